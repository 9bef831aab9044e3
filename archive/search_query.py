"""public-inbox's search syntax, parsed into a plain query that any backend can run.

Supported: plain words and "quoted phrases" (any field), `s:` subject, `f:` from,
`t:` to, `c:` cc, `tc:` to or cc, `a:` from, to or cc, `b:` body, `bs:` subject or body,
`nq:` body (b4 looks up change-ids with it), `m:` Message-ID (exact),
`d:YYYYMMDD..YYYYMMDD` (either end open; YYYY-MM-DD works too), `dt:` the same with a
time (`YYYYMMDDhhmmss`, as lei sends), `AND` (implied), `OR`, `NOT`, a leading `-`, and
parentheses (b4 sends `((s:"..." AND f:"...")) AND d:...`). Message-ID and date filters
hold for the whole query wherever they are written.

Anything else is refused with a `SearchQueryError` that says what is wrong and at which
character: an unknown prefix (`x:foo`; quote it, `"x:foo"`, to search for the text; a
URL or a word ending in ':' is text already), public-inbox prefixes Mailyard does not
index (`rt:`, `z:`, `dfn:`...), `d:..` with no date, a NOT with nothing after it, a NUL,
more than MAX_TERMS terms or MAX_DEPTH nested levels. A range ending on 9999-12-31 has
no end.
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
    at: int = field(default=0, compare=False)  # where the NOT or '-' was written


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
# A word ending in ':' followed by a value is a prefix only if it is a short name in
# letters, as public-inbox's are; anything else with a colon (a URL, "Fixes:") is text.
_PREFIX = re.compile(r"^([A-Za-z]{1,8}):(?!//)(.*)$", re.DOTALL)
# public-inbox's prefixes that Mailyard does not index: refused by name rather than
# searched as words, which would quietly find the wrong things.
UNSUPPORTED_PREFIXES = frozenset(
    {"rt", "z", "l", "g", "dfn", "dfa", "dfb", "dfhh", "dfctx", "dfpre", "dfpost", "dfblob"}
)
# A query is typed by a person or sent by b4/lei; none nests or grows like this, and a
# hostile one must not exhaust the recursion or the database.
MAX_DEPTH = 32
MAX_TERMS = 64


@dataclass(frozen=True)
class Token:
    text: str
    at: int  # 1-based character position in the query, for error messages


def tokenize(text: str) -> list[Token]:
    if "\x00" in text:  # FTS5 and PostgreSQL end a string there
        raise SearchQueryError(f"the NUL at character {text.index(chr(0)) + 1} cannot be searched")
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break  # only white space is left
        group = next(i for i in (1, 2, 3) if m.group(i) is not None)
        tokens.append(Token(m.group(group), m.start(group) + 1))
        pos = m.end()
    for token in tokens:
        if token.text.count('"') % 2:
            quote = token.at + token.text.rindex('"')
            raise SearchQueryError(
                f"unbalanced quotes: the quote at character {quote} is never closed"
            )
    return tokens


def parse_query(text: str) -> SearchQuery:
    """Parse a search box string; raises SearchQueryError, saying what is wrong and
    where, on what it cannot read."""
    parser = _Parser(tokenize(text))
    query = SearchQuery()
    node = parser.parse(query)
    query.text = _simplify(node)
    if (
        query.text is not None
        and only_negative(query.text)
        and not (query.message_ids or query.patch_ids or query.date_from or query.date_to)
    ):
        raise SearchQueryError(
            "a search needs at least one term that is not excluded (the one at character "
            f"{first_excluded(query.text).at} is excluded)"
        )
    return query


class _Parser:
    """Recursive descent: or_expr := and_expr (OR and_expr)*; and_expr := unary+;
    unary := (NOT|-) unary | '(' or_expr ')' | term."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos].text if self.pos < len(self.tokens) else None

    def here(self) -> int:
        """Where the current token starts (1-based)."""
        return self.tokens[self.pos].at

    def parse(self, query: SearchQuery) -> Node | None:
        self.query = query
        node = self.or_expr()
        if self.peek() is not None:
            raise SearchQueryError(f"the ')' at character {self.here()} closes nothing")
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
        assert token is not None  # and_expr stops at the end
        at = self.here()
        if token in ("NOT", "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise SearchQueryError(
                    f"the {token!r} at character {at} nests deeper than {MAX_DEPTH} levels"
                )
            try:
                return self._not(at) if token == "NOT" else self._group(at)
            finally:
                self.depth -= 1
        if token == ")":
            raise SearchQueryError(f"the ')' at character {at} closes nothing")
        self.pos += 1
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise SearchQueryError(
                f"a search may have at most {MAX_TERMS} terms; the next one is at character {at}"
            )
        if token.startswith("-") and len(token) > 1:
            term = self.term(token[1:], at + 1)
            return Not(term, at) if term is not None else None
        return self.term(token, at)

    def _not(self, at: int) -> Node | None:
        self.pos += 1
        if self.peek() in (None, ")", "OR", "AND"):
            raise SearchQueryError(f"the NOT at character {at} needs a term after it")
        operand = self.unary()
        return Not(operand, at) if operand is not None else None

    def _group(self, at: int) -> Node | None:
        self.pos += 1
        node = self.or_expr()
        if self.peek() != ")":
            raise SearchQueryError(f"the '(' at character {at} is never closed")
        self.pos += 1
        return node

    def term(self, token: str, at: int) -> Node | None:
        m = _PREFIX.match(token)
        if m is None:
            text = _unquote(token)
            return Term(text) if text.strip() else None
        prefix, value = m.group(1).lower(), _unquote(m.group(2))
        if prefix == "m":
            if not value.strip().strip("<>"):
                raise SearchQueryError(f"m: at character {at} needs a Message-ID after it")
            self.query.message_ids.append(value.strip().strip("<>"))
            return None
        if prefix == "patchid":
            self.query.patch_ids.append(value.strip().lower())
            return None
        if prefix in ("d", "dt"):
            try:
                self.query.date_from, self.query.date_to = parse_date_range(value)
            except SearchQueryError as e:
                raise SearchQueryError(f"{prefix}:{value} at character {at}: {e}") from None
            return None
        if prefix in FIELDS:
            return Term(value, FIELDS[prefix]) if value.strip() else None
        if not value.strip():
            return Term(token)  # "Fixes:" is a word, not a prefix
        if prefix in UNSUPPORTED_PREFIXES:
            raise SearchQueryError(
                f"the prefix {prefix}: at character {at} is not supported here; "
                f"supported: {_PREFIX_NAMES}"
            )
        raise SearchQueryError(
            f"unknown prefix {prefix}: at character {at}; supported: {_PREFIX_NAMES}"
            f' (to search for the text, quote it: "{token}")'
        )


_PREFIX_NAMES = " ".join(f"{p}:" for p in (*FIELDS, "m", "patchid", "d", "dt"))


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
        return Not(operand, node.at) if operand is not None else None
    return node


def only_negative(node: Node) -> bool:
    if isinstance(node, Not):
        return True
    if isinstance(node, (And, Or)):
        return all(only_negative(o) for o in node.operands)
    return False


def first_excluded(node: Node) -> Not:
    """The first NOT of an expression that has one (to say where a problem is)."""
    if isinstance(node, Not):
        return node
    if isinstance(node, (And, Or)):
        for operand in node.operands:
            if (found := _find_not(operand)) is not None:
                return found
    raise ValueError("no NOT in this expression")


def _find_not(node: Node) -> Not | None:
    try:
        return first_excluded(node)
    except ValueError:
        return None


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
    (`dt:`), the range ends at B itself. A range ending on 9999-12-31 is open."""
    start, dots, end = value.partition("..")
    if not dots:
        day, _ = parse_date(start)
        return day, _day_after(day)
    if not start.strip() and not end.strip():
        raise SearchQueryError("a range needs a date on at least one side of '..'")
    date_from = parse_date(start)[0] if start.strip() else None
    date_to = None
    if end.strip():
        date_to, has_time = parse_date(end)
        if not has_time:
            date_to = _day_after(date_to)
    return date_from, date_to


def _day_after(day: datetime) -> datetime | None:
    """The start of the next day; None (no end) after the last day datetime can hold."""
    try:
        return day + timedelta(days=1)
    except OverflowError:
        return None
