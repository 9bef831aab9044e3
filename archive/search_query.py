"""public-inbox's search syntax, parsed into a plain query that any backend can run.

Supported: plain words and "quoted phrases" (any field), `s:` subject, `f:` from,
`t:` to, `c:` cc, `tc:` to or cc, `a:` from, to or cc, `b:` body, `bs:` subject or body,
`nq:` body (b4 looks up change-ids with it), `m:` Message-ID (exact),
`d:YYYYMMDD..YYYYMMDD` (either end open; YYYY-MM-DD works too), `dt:` the same with a
time (`YYYYMMDDhhmmss`, as lei sends), `AND` (implied), `OR`, `NOT`, a leading `-`, and
parentheses (b4 sends `((s:"..." AND f:"...")) AND d:...`). Message-ID and date filters
hold for the whole query wherever they are written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.errors import UserError

FIELDS: dict[str, tuple[str, ...]] = {
    "s": ("subject",),
    "f": ("from_text",),
    "t": ("to_text",),
    "c": ("cc_text",),
    "tc": ("to_text", "cc_text"),
    "a": ("from_text", "to_text", "cc_text"),
    "b": ("body",),
    "nq": ("body",),
    "bs": ("subject", "body"),
}
ALL_FIELDS = ("subject", "from_text", "to_text", "cc_text", "body")


class SearchQueryError(UserError):
    """The query cannot be understood; the message tells the user why."""


@dataclass
class Term:
    text: str
    columns: tuple[str, ...] = ALL_FIELDS


@dataclass
class Not:
    operand: Node


@dataclass
class And:
    operands: list[Node]


@dataclass
class Or:
    operands: list[Node]


Node = Term | Not | And | Or


@dataclass
class SearchQuery:
    text: Node | None = None
    message_ids: list[str] = field(default_factory=list)
    patch_ids: list[str] = field(default_factory=list)  # git patch-id --stable, hex
    date_from: datetime | None = None
    date_to: datetime | None = None  # exclusive

    @property
    def is_empty(self) -> bool:
        return not (
            self.text or self.message_ids or self.patch_ids or self.date_from or self.date_to
        )


_TOKEN = re.compile(r'\s*(?:(\()|(\))|((?:[^\s()"]*"[^"]*"?)+[^\s()"]*|[^\s()"]+))')


def tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        tokens.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    for token in tokens:
        if token.count('"') % 2:
            raise SearchQueryError("unbalanced quotes in the search query")
    return tokens


def parse_query(text: str) -> SearchQuery:
    """Parse a search box string; raises SearchQueryError on what it cannot read."""
    parser = _Parser(tokenize(text))
    query = SearchQuery()
    node = parser.parse(query)
    query.text = _simplify(node)
    if (
        query.text is not None
        and only_negative(query.text)
        and not (query.message_ids or query.date_from or query.date_to)
    ):
        raise SearchQueryError("a search needs at least one term that is not excluded")
    return query


class _Parser:
    """Recursive descent: or_expr := and_expr (OR and_expr)*; and_expr := unary+;
    unary := (NOT|-) unary | '(' or_expr ')' | term."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self, query: SearchQuery) -> Node | None:
        self.query = query
        node = self.or_expr()
        if self.peek() is not None:
            raise SearchQueryError("unbalanced parentheses in the search query")
        return node

    def or_expr(self) -> Node | None:
        operands = [self.and_expr()]
        while self.peek() == "OR":
            self.pos += 1
            operands.append(self.and_expr())
        return Or([o for o in operands if o is not None])

    def and_expr(self) -> Node | None:
        operands: list[Node | None] = []
        while (token := self.peek()) is not None and token not in (")", "OR"):
            if token == "AND":
                self.pos += 1
                continue
            operands.append(self.unary())
        return And([o for o in operands if o is not None])

    def unary(self) -> Node | None:
        token = self.peek()
        if token == "NOT":
            self.pos += 1
            operand = self.unary()
            return Not(operand) if operand is not None else None
        if token == "(":
            self.pos += 1
            node = self.or_expr()
            if self.peek() != ")":
                raise SearchQueryError("unbalanced parentheses in the search query")
            self.pos += 1
            return node
        if token == ")":
            raise SearchQueryError("unbalanced parentheses in the search query")
        if token is None:  # the query ended right after a NOT
            raise SearchQueryError("NOT needs a term after it")
        self.pos += 1
        if token.startswith("-") and len(token) > 1:
            term = self.term(token[1:])
            return Not(term) if term is not None else None
        return self.term(token)

    def term(self, token: str) -> Node | None:
        prefix, sep, value = token.partition(":")
        prefix = prefix.lower()
        value = _unquote(value)
        if sep and prefix == "m":
            self.query.message_ids.append(value.strip().strip("<>"))
            return None
        if sep and prefix == "patchid":
            self.query.patch_ids.append(value.strip().lower())
            return None
        if sep and prefix in ("d", "dt"):
            self.query.date_from, self.query.date_to = parse_date_range(value)
            return None
        if sep and prefix in FIELDS:
            return Term(value, FIELDS[prefix]) if value.strip() else None
        text = _unquote(token)
        return Term(text) if text.strip() else None


def _unquote(value: str) -> str:
    return value.replace('"', "")


def _simplify(node: Node | None) -> Node | None:
    """Drop empty groups and one-element And/Or wrappers."""
    if isinstance(node, (And, Or)):
        operands = [s for s in (_simplify(o) for o in node.operands) if s is not None]
        if not operands:
            return None
        return operands[0] if len(operands) == 1 else type(node)(operands)
    if isinstance(node, Not):
        operand = _simplify(node.operand)
        return Not(operand) if operand is not None else None
    return node


def only_negative(node: Node) -> bool:
    if isinstance(node, Not):
        return True
    if isinstance(node, (And, Or)):
        return all(only_negative(o) for o in node.operands)
    return False


_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:T?(\d{2}):?(\d{2})(?::?(\d{2}))?)?Z?$")


def parse_date(value: str) -> tuple[datetime, bool]:
    """The moment `value` names, and whether it named a time of day (not just a date)."""
    m = _DATE.match(value.strip())
    if not m:
        raise SearchQueryError(f"dates are written YYYYMMDD or YYYY-MM-DD, not {value!r}")
    try:
        parts = [int(p) for p in m.groups() if p is not None]
        year, month, day, hour, minute, second = parts + [0] * (6 - len(parts))
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC), len(parts) > 3
    except ValueError:
        raise SearchQueryError(f"no such date: {value!r}") from None


def parse_date_range(value: str) -> tuple[datetime | None, datetime | None]:
    """`d:A..B` covers A's day through B's day; `d:A` is that one day; with times
    (`dt:`), the range ends at B itself."""
    start, dots, end = value.partition("..")
    if not dots:
        day, _ = parse_date(start)
        return day, day + timedelta(days=1)
    date_from = parse_date(start)[0] if start else None
    date_to = None
    if end:
        date_to, has_time = parse_date(end)
        if not has_time:
            date_to += timedelta(days=1)
    return date_from, date_to
