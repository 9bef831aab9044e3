"""public-inbox's search syntax, parsed into a plain query that any backend can run.

Supported: plain words and "quoted phrases" (any field), `s:` subject, `f:` from,
`t:` to, `c:` cc, `tc:` to or cc, `a:` from, to or cc, `b:` body, `bs:` subject or body,
`m:` Message-ID (exact), `d:YYYYMMDD..YYYYMMDD` (either end may be left open; YYYY-MM-DD
works too), `AND` (implied), `OR`, `NOT` and a leading `-` to exclude a term.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

FIELDS: dict[str, tuple[str, ...]] = {
    "s": ("subject",),
    "f": ("from_text",),
    "t": ("to_text",),
    "c": ("cc_text",),
    "tc": ("to_text", "cc_text"),
    "a": ("from_text", "to_text", "cc_text"),
    "b": ("body",),
    "bs": ("subject", "body"),
}
ALL_FIELDS = ("subject", "from_text", "to_text", "cc_text", "body")


class SearchQueryError(ValueError):
    """The query cannot be understood; the message tells the user why."""


@dataclass
class Term:
    text: str
    columns: tuple[str, ...] = ALL_FIELDS
    negated: bool = False
    # How this term joins the one before it: "AND" or "OR".
    joiner: str = "AND"


@dataclass
class SearchQuery:
    terms: list[Term] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    date_from: datetime | None = None
    date_to: datetime | None = None  # exclusive

    @property
    def is_empty(self) -> bool:
        return not (self.terms or self.message_ids or self.date_from or self.date_to)


def parse_query(text: str) -> SearchQuery:
    """Parse a search box string; raises SearchQueryError on what it cannot read."""
    try:
        tokens = shlex.split(text, posix=True)
    except ValueError:
        raise SearchQueryError("unbalanced quotes in the search query") from None
    query = SearchQuery()
    joiner, negate = "AND", False
    for token in tokens:
        if token in ("AND", "OR"):
            joiner = token
            continue
        if token == "NOT":
            negate = True
            continue
        if token.startswith("-") and len(token) > 1:
            negate, token = True, token[1:]
        prefix, sep, value = token.partition(":")
        prefix = prefix.lower()
        if sep and prefix == "m":
            query.message_ids.append(value.strip().strip("<>"))
        elif sep and prefix == "d":
            query.date_from, query.date_to = parse_date_range(value)
        elif sep and prefix in FIELDS:
            if value.strip():
                query.terms.append(Term(value, FIELDS[prefix], negate, joiner))
        else:
            query.terms.append(Term(token, ALL_FIELDS, negate, joiner))
        joiner, negate = "AND", False
    if (
        query.terms
        and all(t.negated for t in query.terms)
        and not (query.message_ids or query.date_from or query.date_to)
    ):
        raise SearchQueryError("a search needs at least one term that is not excluded")
    return query


_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


def parse_date(value: str) -> datetime:
    m = _DATE.match(value.strip())
    if not m:
        raise SearchQueryError(f"dates are written YYYYMMDD or YYYY-MM-DD, not {value!r}")
    try:
        return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
    except ValueError:
        raise SearchQueryError(f"no such date: {value!r}") from None


def parse_date_range(value: str) -> tuple[datetime | None, datetime | None]:
    """`d:A..B` covers A's day through B's day; `d:A` is that one day."""
    start, dots, end = value.partition("..")
    if not dots:
        day = parse_date(start)
        return day, day + timedelta(days=1)
    return (
        parse_date(start) if start else None,
        parse_date(end) + timedelta(days=1) if end else None,
    )
