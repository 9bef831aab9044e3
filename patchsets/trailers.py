"""Trailers: read them from commit messages and review replies, add collected ones back.

Two readers, because the two sources follow different conventions and the tools our users
run already settled each one:

- a commit message is read the way `git interpret-trailers --parse` reads it (git's
  trailer.c), so what we show is what `git am` and `git log` will see;
- a review reply is read with b4's rules for follow-ups (`LoreMessage.find_trailers(body,
  followup=True)`), so a maintainer collecting trailers here gets what `b4 trailers -u`
  would collect: quoted lines, signatures and person trailers without an address never
  count.

All of it is pure string work and never raises, whatever the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Trailer",
    "add_trailers",
    "commit_trailers",
    "followup_trailers",
    "mismatched",
]

# git's isspace() is ASCII-only: space, \t, \n, \r (not \v or \f, nor any Unicode space).
_GIT_SPACE = " \t\n\r"

# Canonical spelling of the trailers people write, keyed by their lower-cased name.
_CANONICAL = {
    name.lower(): name
    for name in (
        "Reviewed-by",
        "Acked-by",
        "Tested-by",
        "Reported-by",
        "Suggested-by",
        "Signed-off-by",
        "Co-developed-by",
        "Fixes",
        "Link",
        "Closes",
        "Cc",
    )
}

# Trailers that name a commit, a URL or an id rather than a person (b4's set, plus the
# utility trailers b4 recognises elsewhere). Their values never carry an address to check.
_LINKS = {"link", "buglink", "closes"}
_NONPERSON = _LINKS | {
    "fixes",
    "obsoleted-by",
    "change-id",
    "base-commit",
    "based-on",
    "message-id",
}


@dataclass(frozen=True)
class Trailer:
    """One `Name: value` trailer; known names are stored in their canonical spelling."""

    name: str
    value: str

    def __post_init__(self) -> None:
        name = self.name if isinstance(self.name, str) else str(self.name)
        value = self.value if isinstance(self.value, str) else str(self.value)
        name = name.strip(_GIT_SPACE)
        object.__setattr__(self, "name", _CANONICAL.get(name.lower(), name))
        object.__setattr__(self, "value", value.strip(_GIT_SPACE))

    @property
    def email(self) -> str | None:
        """The address this trailer credits, lower-cased; None when it names no person."""
        if self.name.lower() in _NONPERSON:
            return None
        return _find_address(self.value)

    @property
    def line(self) -> str:
        """The trailer as it is written into a commit message."""
        return f"{self.name}: {self.value}"


def _find_address(value: str) -> str | None:
    bracketed = re.search(r"<([^<>\s]+@[^<>\s]+)>", value)
    if bracketed:
        return bracketed.group(1).lower()
    bare = re.search(r"[^\s<>\"'(),;]+@[^\s<>\"'(),;]+", value)
    return bare.group(0).lower() if bare else None


# --- commit messages: git's trailer.c ------------------------------------------------------

_COMMENT = "#"
_CUT_LINE = "\n# ------------------------ >8 ------------------------\n"
_GIT_GENERATED = ("Signed-off-by: ", "(cherry picked from commit ")
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def commit_trailers(message: str) -> list[Trailer]:
    """Trailers of a commit message, as `git interpret-trailers --parse` reads them."""
    try:
        text = _as_c_string(message)
        start, end = _trailer_block(text)
        return [Trailer(tok, val) for tok, val in _parse_block(text[start:end])]
    except Exception:  # noqa: BLE001 - a reader of mail never crashes on odd mail
        return []


def _as_c_string(message: object) -> str:
    """git reads a C string: anything after a NUL does not exist for it."""
    text = message if isinstance(message, str) else str(message or "")
    return text.split("\0", 1)[0]


def _trailer_block(text: str) -> tuple[int, int]:
    """Offsets of git's trailer block in `text`; start == end when there is none."""
    end = _find_patch_start(text)
    end -= _ignored_tail_length(text, end)
    start = _find_trailer_start(text, end)
    # Whitespace-only lines closing the block add nothing to it (git skips them too); leave
    # them out so that lines added after the block are not cut off from it.
    while start < end:
        last = _last_line(text, end)
        if last < start or not _is_blank_line(text, last):
            break
        end = last
    return start, end


def _next_line(text: str, pos: int) -> int:
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def _find_patch_start(text: str) -> int:
    """Where a `---` divider line (followed by whitespace) starts, else the length."""
    pos = 0
    while pos < len(text):
        if text.startswith("---", pos) and pos + 3 < len(text) and text[pos + 3] in _GIT_SPACE:
            return pos
        pos = _next_line(text, pos)
    return len(text)


def _cut_line_end(text: str, length: int) -> int:
    """git's wt_status_locate_end: everything from the scissors line on is ignored."""
    if text.startswith(_CUT_LINE[1:]):
        return 0
    found = text.find(_CUT_LINE)
    return min(found + 1, length) if found >= 0 else length


def _ignored_tail_length(text: str, length: int) -> int:
    """git's ignore_non_trailer: trailing comments, empty lines and a `Conflicts:` block."""
    boc = 0  # git uses 0 as "no run yet", quirk included
    bol = 0
    in_conflicts = False
    cutoff = _cut_line_end(text, length)
    while bol < cutoff:
        nl = text.find("\n", bol, length)
        next_bol = length if nl < 0 else nl + 1
        first = text[bol] if bol < len(text) else ""
        if first == _COMMENT or first == "\n":
            if not boc:
                boc = bol
        elif text.startswith("Conflicts:\n", bol):
            in_conflicts = True
            if not boc:
                boc = bol
        elif in_conflicts and first == "\t":
            pass
        elif boc:
            boc = 0
            in_conflicts = False
        bol = next_bol
    return length - boc if boc else length - cutoff


def _is_blank_line(text: str, pos: int) -> bool:
    nl = text.find("\n", pos)
    line = text[pos:] if nl < 0 else text[pos:nl]
    return not line.strip(_GIT_SPACE)


def _last_line(text: str, length: int) -> int:
    """Start of the line before offset `length` (git's last_line); -1 before the text."""
    if length == 0:
        return -1
    if length == 1:
        return 0
    return text.rfind("\n", 0, length - 1) + 1


def _find_separator(line: str) -> int:
    """Index of the ':' ending a `Token:` or `Token :` prefix, else -1 (git's rule)."""
    whitespace_found = False
    for i, c in enumerate(line):
        if c == ":":
            return i
        if not whitespace_found and c in _TOKEN_CHARS:
            continue
        if i and c in " \t":
            whitespace_found = True
            continue
        break
    return -1


def _find_trailer_start(text: str, length: int) -> int:
    """git's find_trailer_start: the start of the last paragraph if it is a trailer block."""
    pos = 0  # the first paragraph is the title and never holds trailers
    while pos < length:
        if text[pos] != _COMMENT and _is_blank_line(text, pos):
            break
        pos = _next_line(text, pos)
    end_of_title = pos

    only_spaces = True
    recognized_prefix = False
    trailer_lines = non_trailer_lines = possible_continuation_lines = 0
    bol = _last_line(text, length)
    while bol >= end_of_title and bol >= 0:
        first = text[bol] if bol < len(text) else ""
        if first == _COMMENT:
            non_trailer_lines += possible_continuation_lines
            possible_continuation_lines = 0
        elif _is_blank_line(text, bol):
            if not only_spaces:
                non_trailer_lines += possible_continuation_lines
                if (recognized_prefix and trailer_lines * 3 >= non_trailer_lines) or (
                    trailer_lines and not non_trailer_lines
                ):
                    return _next_line(text, bol)
                return length
        else:
            only_spaces = False
            if text.startswith(_GIT_GENERATED, bol):
                trailer_lines += 1
                possible_continuation_lines = 0
                recognized_prefix = True
            elif _find_separator(_line_at(text, bol)) >= 1 and first not in _GIT_SPACE:
                trailer_lines += 1
                possible_continuation_lines = 0
            elif first in _GIT_SPACE:
                possible_continuation_lines += 1
            else:
                non_trailer_lines += 1 + possible_continuation_lines
                possible_continuation_lines = 0
        bol = _last_line(text, bol)
    return length


def _line_at(text: str, pos: int) -> str:
    """The line at `pos` with its newline, as git's C string view would continue past it."""
    return text[pos : _next_line(text, pos)]


def _parse_block(block: str) -> list[tuple[str, str]]:
    """Split a trailer block into (token, value) pairs, folding continuation lines."""
    items: list[str] = []
    last: int | None = None
    for line in re.findall(r"[^\n]*\n|[^\n]+$", block):
        if last is not None and line[0] in _GIT_SPACE:
            items[last] += line
            continue
        items.append(line)
        last = len(items) - 1 if _find_separator(line) >= 1 else None
    pairs = []
    for item in items:
        if item.startswith(_COMMENT):
            continue
        sep = _find_separator(item)
        if sep >= 1:
            token = item[:sep].strip(_GIT_SPACE)
            pairs.append((token, _unfold(item[sep + 1 :].strip(_GIT_SPACE))))
    return pairs


def _unfold(value: str) -> str:
    """git's unfold_value: each newline and the whitespace after it become one space."""
    return re.sub(r"\n[ \t\n\r]*", " ", value).strip(_GIT_SPACE)


# --- review replies: b4's follow-up rules --------------------------------------------------

_TRAILER_LINE = re.compile(r"^\s*(\w\S+):\s+(\S.*)", re.IGNORECASE)
_WRAPPED_FIXES = re.compile(r"^(\S+:\s+[\da-f]+\s+\([^)]+)\n([^\n]+\))", re.MULTILINE)
_WRAPPED_ADDRESS = re.compile(r"^(\S+:\s+[^<]+)\n(<[^>]+>)$", re.MULTILINE)
_PERSON = re.compile(r"\S+@\S+\.\S+")
_IGNORED = {"phone", "email"}
# Series links, not trailers: in a reply they link the series it answers to another
# (`patchsets.classify`, as patchew reads them), and never go into a commit message.
SERIES_LINKS = {"based-on", "depends-on", "prerequisite-message-id", "supersedes", "obsoletes"}
# Lines that look like trailers but are mail headers or patch metadata (b4's "badtrailers").
_NOT_FOLLOWUP = {
    "from",
    "author",
    "cc",
    "to",
    "date",
    "subject",
    "subscribe",
    "unsubscribe",
    "base-commit",
    "change-id",
}
# Names without a hyphen that still count as trailers in a reply.
_KNOWN_PLAIN = {"fixes", "link", "buglink", "closes"}


def followup_trailers(body: str) -> list[Trailer]:
    """Trailers a reviewer gives in a reply (b4's rules for follow-ups)."""
    try:
        return _followup_trailers(body if isinstance(body, str) else str(body or ""))
    except Exception:  # noqa: BLE001 - a reader of mail never crashes on odd mail
        return []


def _followup_trailers(body: str) -> list[Trailer]:
    body = body.replace("\r\n", "\n")
    # Nothing below the signature marker is the reviewer's word on the patch.
    body = body.split("\n-- \n", 1)[0].strip() + "\n"
    # Join the wrapping mail clients commonly do: `Fixes: abcd (foo\nbar)`, `Name\n<addr>`.
    body = _WRAPPED_FIXES.sub(r"\1 \2", body)
    body = _WRAPPED_ADDRESS.sub(r"\1 \2", body)
    found: list[Trailer] = []
    for line in body.split("\n"):
        match = _TRAILER_LINE.search(line.strip("\r"))
        if not match:
            continue
        name, value = match.groups()
        if _counts_in_reply(name, value):
            found.append(Trailer(name, value))
    return found


def _counts_in_reply(name: str, value: str) -> bool:
    lname = name.lower()
    if lname in _IGNORED or lname in SERIES_LINKS or lname in _NOT_FOLLOWUP:
        return False
    if not lname.isascii():
        return False
    if "-" not in lname and lname not in _KNOWN_PLAIN:
        return False
    if lname not in _NONPERSON and not _PERSON.search(value):
        return False  # a person trailer without an address credits nobody
    return not (re.search(r"https?://", value) and lname not in _LINKS)


def mismatched(trailer: Trailer, sender: str) -> bool:
    """A person trailer whose address differs from the reply's From address (case-insensitive):
    shown, not applied."""
    try:
        address = trailer.email
        if address is None:
            return False
        sender_address = _find_address(sender or "") or (sender or "").strip().lower()
        return address != sender_address
    except Exception:  # noqa: BLE001 - a reader of mail never crashes on odd mail
        return False


# --- adding trailers -----------------------------------------------------------------------


def add_trailers(message: str, trailers: list[Trailer]) -> str:
    """The commit message with `trailers` appended to its trailer block, skipping any already
    present (same name, case-insensitive, and value)."""
    try:
        return _add_trailers(message, trailers)
    except Exception:  # noqa: BLE001 - adding trailers must not lose the message
        return message


def _add_trailers(message: str, trailers: list[Trailer]) -> str:
    text = _as_c_string(message)
    if text == "---" or text.endswith("\n---"):
        text = text[:-3]  # an unterminated `---` closing the message is its patch divider
    start, end = _trailer_block(text)
    seen = {_key(Trailer(tok, val)) for tok, val in _parse_block(text[start:end])}
    new_lines = []
    for trailer in trailers or []:
        if _key(trailer) not in seen:
            seen.add(_key(trailer))
            new_lines.append(re.sub(r"[\r\n]+", " ", trailer.line))
    if not new_lines:
        return message
    head, rest = message[:end], message[end:]
    if head and not head.endswith("\n"):
        head += "\n"
    if start == end and (not head or not _is_blank_line(head, _last_line(head, len(head)))):
        head += "\n"  # no trailer block yet: start one after a blank line, as git does
    added = head + "\n".join(new_lines)
    if rest:
        return added + "\n" + rest
    return added + "\n" if message.endswith("\n") else added


def _key(trailer: Trailer) -> tuple[str, str]:
    return trailer.name.lower(), " ".join(trailer.value.split())
