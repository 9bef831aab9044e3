"""Decode header values into plain data: RFC 2047 words, raw 8-bit text, addresses,
Message-ID lists, List-Id, Auto-Submitted and Date. Pure functions over strings and
bytes; `archive.parse` reads the headers of a message and calls these.

Speed: `email.policy.default` decodes well but builds a header object for every header
and is ~5x slower to parse than `policy.compat32`. `archive.parse` parses with compat32
and decodes only the headers it uses, here; bench/parse_bench.py compares the result with
the stdlib `policy.default` floor.

Charset decoding is `archive.charsets`, shared with the body parts `archive.parse` reads.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import getaddresses, parsedate_tz, unquote

from archive.charsets import decode_text

MAX_MSGID_LEN = 995  # RFC 5322 line limit minus "Message-ID: <>"; public-inbox uses the same


@dataclass
class Address:
    name: str  # display name, decoded; '' when there is none
    addr: str  # the address as written, stripped


_FOLD = re.compile(r"[\r\n]+[ \t]*")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?\s]*)\?=")
_ANGLE = re.compile(r"<([^<>]*)>")
# public-inbox's MID_EXTRACT: an id is anything from '<' up to the next '>'.
_MSGID_EXTRACT = re.compile(r"<([^>]+)>")
_MSGID_DROPPED = str.maketrans("", "", "\t\r\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REPLY_PREFIXES = re.compile(
    r"(?:\s*(?:re|fwd?|aw|sv|antw)\s*(?:\[\d+\]|\(\d+\))?\s*:)+\s*", re.IGNORECASE
)
# --- message ids and subjects ----------------------------------------------------------


def normalize_msgid(value: str) -> str | None:
    """The id in a Message-ID value, read as public-inbox reads it: what is between the
    first '<' and the next '>', spaces, '<' and quotes included ('<a@b> (comment)' gives
    'a@b'); a value without brackets is taken whole. Tabs, CR and LF are removed
    (public-inbox's `t/mid.t`). None when nothing is left, when other control characters
    remain, or when it is over MAX_MSGID_LEN: not an id we can link to."""
    text = value.strip()
    match = _MSGID_EXTRACT.search(text)
    if match:
        text = match.group(1)
    else:
        text = text.removeprefix("<").removesuffix(">")
    text = text.translate(_MSGID_DROPPED).strip()
    if not text or len(text) > MAX_MSGID_LEN or _CONTROL.search(text):
        return None
    return text


def parse_msgid_list(value: str) -> list[str]:
    """Every <id> in a References or In-Reply-To value, in order. A value without brackets
    counts only when it is one bare token with an '@' (some mailers drop the brackets);
    free text around the ids ("message from X on Y") is ignored."""
    if "<" not in value:
        tokens = value.split()
        if len(tokens) == 1 and "@" in tokens[0]:
            msgid = normalize_msgid(tokens[0])
            return [msgid] if msgid else []
        return []
    ids = (normalize_msgid(f"<{inner}>") for inner in _MSGID_EXTRACT.findall(value))
    return [msgid for msgid in ids if msgid]


# What users of old git send-email typed at its "In-Reply-To?" prompt, which it sent.
_PROMPT_ANSWERS = frozenset({"y", "n"})
# References kept of one message: its nearest ancestors, as JWZ implementations keep a
# bounded tail. Threading needs the parent and a few above it; thousands of ids are an
# attack on the write lock, not ancestry.
MAX_REFERENCES = 100


def drop_false_references(ids: list[str], addresses: list[Address]) -> list[str]:
    """`ids` without what is not a Message-ID although written as one: git send-email's
    'y'/'n' answers and the message's own To/From/Cc addresses, as public-inbox drops
    them."""
    false = _PROMPT_ANSWERS | {a.addr.lower() for a in addresses if a.addr}
    return [msgid for msgid in ids if msgid.lower() not in false]


def strip_subject_prefixes(subject: str) -> str:
    """The subject without leading reply/forward markers (Re:, Fwd:, Aw:, Sv:, Antw: and
    their repeats such as 'Re: Re[2]:'), so replies thread by subject with their root.
    List tags and [PATCH] prefixes are kept: they are not reply markers."""
    match = _REPLY_PREFIXES.match(subject) if ":" in subject else None
    return subject[match.end() :] if match else subject


# --- dates, addresses, list headers ----------------------------------------------------


def read_date(values: list[str] | None, problems: list[str]) -> datetime | None:
    """The Date in UTC. Dates before 1970 or after 2100 are typos or forgeries that would
    sort a message to the ends of every listing, so they count as no date."""
    if not values:
        problems.append("no Date header")
        return None
    text = values[0].strip()
    try:
        parts = parsedate_tz(text)
        if parts is None:
            raise ValueError(text)
        local = datetime(*parts[:6], tzinfo=timezone(timedelta(seconds=parts[9] or 0)))
        date = local.astimezone(UTC)
    except Exception:
        problems.append(f"unparseable Date: {text[:80]!r}")
        return None
    if not 1970 <= date.year <= 2100:
        problems.append(f"absurd Date: {text[:80]!r}")
        return None
    return date


def parse_addresses(values: list[str], label: str, problems: list[str]) -> list[Address]:
    """Split before decoding RFC 2047 names, so an encoded comma cannot split a name.
    Odd lists (an entry without '@', a comment that getaddresses would move) take the
    lenient path, which keeps display names as written."""
    try:
        pairs = getaddresses(values)
        if any("@" not in addr for _, addr in pairs) or any("(" in v for v in values):
            pairs = [pair for value in values for pair in _addresses_leniently(value)]
    except Exception:
        problems.append(f"unparseable {label} header")
        return []
    return [
        Address(decode_words(name, label, problems).strip(), addr.strip())
        for name, addr in pairs
        if name or addr
    ]


def _addresses_leniently(value: str) -> list[tuple[str, str]]:
    """Addresses from a list where display names may hold unquoted commas: 'Doe, Jane
    <j@x>' is invalid, but mailers send it in raw UTF-8 headers and getaddresses would
    give ('', 'Doe') and ('Jane', 'j@x'). A comma-separated piece without '@' is taken as
    the start of the next piece's name."""
    pairs: list[tuple[str, str]] = []
    carried = ""
    for piece in _split_top_level(value):
        if "@" not in piece:
            carried += piece + ","
            continue
        entry, carried = carried + piece, ""
        name, bracket, rest = entry.partition("<")
        if bracket and ">" in rest:
            pairs.append((unquote(name.strip()), rest.partition(">")[0]))
        else:
            pairs.extend(getaddresses([entry]))
    return pairs + (getaddresses([carried.rstrip(",")]) if carried else [])


def _split_top_level(value: str) -> list[str]:
    """`value` split at the commas outside quotes, <angle brackets> and (comments)."""
    pieces, start, depth, quoted, escaped = [], 0, 0, False, False
    for i, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "<(":
            depth += 1
        elif not quoted and char in ">)":
            depth = max(depth - 1, 0)
        elif char == "," and not quoted and depth == 0:
            pieces.append(value[start:i])
            start = i + 1
    return pieces + [value[start:]]


def parse_list_id(value: str) -> str | None:
    """The id of a List-Id value: the part in <> if any, else all of it; None if blank or spaced."""
    match = _ANGLE.search(value)
    text = (match.group(1) if match else value).strip()
    return text if text and not any(c.isspace() for c in text) else None


def parse_auto_submitted(value: str) -> str | None:
    """The keyword only ('auto-replied; owner=x' gives 'auto-replied'): what loop checks
    compare against 'no'."""
    keyword = re.split(r"[;(\s]", value.strip(), maxsplit=1)[0].lower()
    return keyword or None


# --- raw values and encoded words ------------------------------------------------------


def decode_header_text(
    value: str, label: str, problems: list[str], keep_folding: bool = False
) -> str:
    """A raw header value as text: raw 8-bit bytes (which compat32 keeps as surrogate
    escapes) read as UTF-8, else latin-1; folding undone unless `keep_folding` (for
    Message-ID headers, whose line breaks and tabs `normalize_msgid` removes)."""
    if not value.isascii():
        data = value.encode("utf-8", "surrogateescape")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            value = data.decode("latin-1")
            problems.append(f"raw 8-bit {label} header is not UTF-8, decoded as latin-1")
    return value if keep_folding else unfold(value)


def unfold(value: str) -> str:
    """The value on one line: each line break and the indent after it become one space."""
    if "\n" in value or "\r" in value:
        return _FOLD.sub(" ", value).strip()
    return value


def decode_words(value: str, label: str, problems: list[str]) -> str:
    """Decode RFC 2047 encoded words. Whitespace between adjacent words is dropped and
    adjacent words in one charset are joined as bytes before decoding, since mailers split
    multi-byte characters across words."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_charset = None
    previous_was_word = False
    position = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            text, trouble = decode_text(bytes(pending), pending_charset)
            if trouble:
                problems.append(f"encoded word could not be decoded in {label} ({trouble})")
            out.append(text)
        pending.clear()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        position = match.end()
        if not (previous_was_word and gap.isspace()) and gap:
            flush()
            out.append(gap)
        charset = match.group(1).split("*", 1)[0].lower()
        try:
            data = _decode_word_payload(match.group(2), match.group(3))
        except (binascii.Error, ValueError):
            flush()
            out.append(match.group(0))
            problems.append(f"encoded word could not be decoded in {label}")
            previous_was_word = False
            continue
        if charset != pending_charset:
            flush()
        pending_charset = charset
        pending.extend(data)
        previous_was_word = True
    flush()
    out.append(value[position:])
    return "".join(out)


def _decode_word_payload(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        return binascii.a2b_base64(text + "=" * (-len(text) % 4))
    return binascii.a2b_qp(text.encode("utf-8"), header=True)


# A line of a header block that is neither a field nor a continuation; the blank line
# ending the block, a From_ line (the parser skips a misplaced one) and a MIME boundary
# (a body that starts without the blank line) are not stray.
_STRAY_LINE = re.compile(rb"\n(?![ \t]|[!-9;-~]*:|From |\r?\n|--)")
_FIELD_LINE = re.compile(rb"[!-9;-~]*:")  # what the stdlib parser takes for a field
_MEND_LIMIT = 1 << 16  # how far a header block without a blank line after it is mended


def mend_header_block(raw: bytes) -> bytes:
    """`raw` with each stray line inside its header block (no colon, not indented, with a
    header field after it) made a continuation of the field before, as public-inbox reads
    it (its t/eml.t: a Subject wrapped without indent, from an archive injection). The
    stdlib parser would end the headers there and lose every field below. Lines after
    the last field stay where they are: a body that lacks the blank line before it."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    end = min(ends) + 1 if ends else raw.rfind(b"\n", 0, _MEND_LIMIT) + 1
    head = raw[:end]
    if not _STRAY_LINE.search(head, 0, len(head) - 1):
        return raw  # the usual case: nothing to mend
    lines = head.splitlines(keepends=True)
    first = 1 if lines[0].startswith(b"From ") else 0
    if first >= len(lines) or not _FIELD_LINE.match(lines[first]):
        return raw  # no header block: the message is all body
    last_field = first
    for number in range(first + 1, len(lines)):
        line = lines[number]
        if line.startswith(b"--"):
            break
        if _FIELD_LINE.match(line):
            last_field = number
    for number in range(first + 1, last_field):
        line = lines[number]
        if line[:1] not in (b" ", b"\t") and not line.startswith(b"From "):
            if not _FIELD_LINE.match(line):
                lines[number] = b" " + line
    return b"".join(lines) + raw[end:]


def find_first_header(raw: bytes, wanted: bytes) -> bytes | None:
    """The first value of header `wanted` (lower-case), read the way `archive.parse` reads
    headers: the header block mended (`mend_header_block`), then as the stdlib
    feedparser does, a line that is neither a header nor a continuation ends the block."""
    raw = mend_header_block(raw)
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    head = raw[: min(ends) + 1] if ends else raw
    value: list[bytes] | None = None
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):
            if value is not None:
                value.append(line)
            continue
        if value is not None:
            break
        if line.startswith(b"From "):
            continue  # envelope line; the parser skips a misplaced one too
        name, colon, rest = line.partition(b":")
        if not colon or not _is_header_name(name):
            break
        if name.strip().lower() == wanted:
            value = [rest.lstrip(b" \t")]
    return b"\n".join(value) if value is not None else None


def _is_header_name(name: bytes) -> bool:
    return all(33 <= byte <= 126 and byte != 58 for byte in name)


def bytes_to_text(data: bytes) -> str:
    """Raw header bytes as text, UTF-8 else latin-1, for reads that bypass the parser."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
