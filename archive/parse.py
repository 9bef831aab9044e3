"""Parse one raw message into plain data: decoded headers, the readable text, problems.

Intake must never crash on bad mail (DESIGN: "Bad input never crashes intake"), so
`parse_message` returns a best-effort result for any bytes and lists what was wrong in
`problems` instead of raising.

Speed: `email.policy.default` decodes well but builds a header object for every header
and is ~5x slower to parse than `policy.compat32`. We parse with compat32 and decode only
the headers we use, ourselves (RFC 2047 words, raw 8-bit UTF-8, addresses, dates);
bench/parse_bench.py compares the result with the stdlib `policy.default` floor.
"""

from __future__ import annotations

import binascii
import codecs
import email
import email.errors
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_tz, unquote
from functools import lru_cache

MAX_MSGID_LEN = 995  # RFC 5322 line limit minus "Message-ID: <>"; public-inbox uses the same


@dataclass
class Address:
    name: str  # display name, decoded; '' when there is none
    addr: str  # the address as written, stripped


@dataclass
class Attachment:
    filename: str | None
    content_type: str
    size: int  # bytes after transfer decoding


@dataclass
class ParsedMessage:
    message_id: str | None = None  # without <>; None when missing or unusable
    subject: str = ""  # RFC 2047 decoded, unfolded
    from_: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    date: datetime | None = None  # UTC; None when missing, unparseable or absurd
    in_reply_to: list[str] = field(default_factory=list)  # ids without <>, in order
    references: list[str] = field(default_factory=list)  # ids without <>, deduplicated
    list_ids: list[str] = field(default_factory=list)  # 'pytest-dev.lists.example.org'
    auto_submitted: str | None = None  # the keyword, lower-cased: 'no', 'auto-replied'...
    body: str = ""  # plain-text parts and patch attachments, joined with '\n'; never HTML
    has_plain: bool = False  # a plain-text body part was found
    has_html: bool = False  # a text/html leaf exists anywhere
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # for people: what was wrong


# Headers read from the message, with the names problems use for them; a duplicate of
# one of the first four is worth a problem (which one counts is ambiguous).
_LABELS = {
    "message-id": "Message-ID",
    "subject": "Subject",
    "from": "From",
    "date": "Date",
    "to": "To",
    "cc": "Cc",
    "in-reply-to": "In-Reply-To",
    "references": "References",
    "list-id": "List-Id",
    "auto-submitted": "Auto-Submitted",
}
_SINGLE = ("message-id", "subject", "from", "date")

_FOLD = re.compile(r"[\r\n]+[ \t]*")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?\s]*)\?=")
_ANGLE = re.compile(r"<([^<>]*)>")
_MSGID_OK = re.compile(r"[^\s<>\x00-\x1f\x7f]+")
_REPLY_PREFIXES = re.compile(
    r"(?:\s*(?:re|fwd?|aw|sv|antw)\s*(?:\[\d+\]|\(\d+\))?\s*:)+\s*", re.IGNORECASE
)
_BAD_QP = re.compile(r"=(?![0-9A-Fa-f]{2})(?![ \t]*(?:\r?\n|\Z))")
_KNOWN_CTE = {
    "",
    "7bit",
    "8bit",
    "binary",
    "quoted-printable",
    "base64",
    "x-uuencode",
    "uuencode",
    "uue",
    "x-uue",
}
_BASE64_DEFECTS = (
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64LengthDefect,
)
_PATCH_TYPES = {"text/x-patch", "text/x-diff", "text/x-patch-file"}
# Charsets that browsers and mail readers read as windows-1252 (WHATWG Encoding), which
# recovers the curly quotes mislabelled Windows mail carries.
_AS_CP1252 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1", "cp819"}
_UNDECLARED = {"", "us-ascii", "ascii", "ansi_x3.4-1968", "us"}
_NOT_ASCII_SUPERSETS = {
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
    "utf-7",
}


def parse_message(raw: bytes) -> ParsedMessage:
    """Everything the archive derives from one message; never raises, whatever `raw` is."""
    result = ParsedMessage()
    problems = result.problems
    try:
        if not isinstance(raw, bytes):
            raw = bytes(raw)  # memoryview from some database drivers
        if not raw.strip():
            problems.append("empty message")
        if b"\x00" in raw:
            problems.append("NUL bytes in message (removed from decoded text)")
        if b"\r\n" in raw[:2000]:
            raw = raw.replace(b"\r\n", b"\n")  # transport line endings, not content
        msg = _parse_mime(raw, problems)
        _read_headers(result, msg)
        if msg is not None:
            _read_body(result, msg)
        if b"\x00" in raw:
            _remove_nuls(result)
    except Exception as exc:  # last resort: the contract is a result, not an exception
        problems.append(f"internal parse error: {type(exc).__name__}: {exc}")
    result.problems = list(dict.fromkeys(problems))
    return result


def extract_message_id(raw: bytes) -> str | None:
    """The Message-ID, scanning only the header block: cheap enough for duplicate checks at
    SMTP time. Ends the header block where the stdlib parser does, so it agrees with
    `parse_message`."""
    try:
        value = _first_header_value(raw, b"message-id")
        if value is None:
            return None
        return normalize_msgid(_unfold(_bytes_to_text(value)))
    except Exception:
        return None


def normalize_msgid(value: str) -> str | None:
    """'<a@b>', ' a@b ' and '<a@b> (comment)' all give 'a@b'; junk gives None. Ids without
    '@' are kept (public-inbox accepts them); anything with spaces, controls or over
    MAX_MSGID_LEN is not an id we can link to."""
    text = value.strip()
    match = _ANGLE.search(text)
    if match:
        text = match.group(1).strip()
    else:
        text = text.removeprefix("<").removesuffix(">").strip()
    if not text or len(text) > MAX_MSGID_LEN or not _MSGID_OK.fullmatch(text):
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
    ids = (normalize_msgid(inner) for inner in _ANGLE.findall(value))
    return [msgid for msgid in ids if msgid]


def strip_subject_prefixes(subject: str) -> str:
    """The subject without leading reply/forward markers (Re:, Fwd:, Aw:, Sv:, Antw: and
    their repeats such as 'Re: Re[2]:'), so replies thread by subject with their root.
    List tags and [PATCH] prefixes are kept: they are not reply markers."""
    match = _REPLY_PREFIXES.match(subject) if ":" in subject else None
    return subject[match.end() :] if match else subject


# --- headers -------------------------------------------------------------------------


def _parse_mime(raw: bytes, problems: list[str]) -> Message | None:
    """compat32 parse; if the MIME parse itself fails (e.g. absurd nesting), salvage the
    headers alone so the message still gets an id, a subject and a date."""
    try:
        return email.message_from_bytes(raw, policy=compat32)
    except Exception as exc:
        problems.append(f"malformed MIME: {type(exc).__name__}, body not decoded")
    try:
        msg = BytesHeaderParser(policy=compat32).parsebytes(raw)
    except Exception:
        return None
    msg.set_payload("")
    return msg


def _read_headers(result: ParsedMessage, msg: Message | None) -> None:
    problems = result.problems
    found: dict[str, list[str]] = {}
    for name, value in msg.raw_items() if msg is not None else ():
        key = name.strip().lower()
        if key in _LABELS:
            found.setdefault(key, []).append(value)
    for key in _SINGLE:
        if len(found.get(key, ())) > 1:
            problems.append(f"duplicate {_LABELS[key]} header")

    texts = {
        key: [_header_text(v, _LABELS[key], problems) for v in values]
        for key, values in found.items()
    }
    _read_message_id(result, texts.get("message-id"))
    if "subject" in texts:
        result.subject = _decode_words(texts["subject"][0], "Subject", problems).strip()
    if "from" in texts:
        senders = _addresses(texts["from"][:1], "From", problems)
        result.from_ = senders[0] if senders else None
    else:
        problems.append("no From header")
    result.to = _addresses(texts.get("to", []), "To", problems)
    result.cc = _addresses(texts.get("cc", []), "Cc", problems)
    result.date = _read_date(texts.get("date"), problems)
    result.in_reply_to = [m for v in texts.get("in-reply-to", []) for m in parse_msgid_list(v)]
    references = [m for v in texts.get("references", []) for m in parse_msgid_list(v)]
    result.references = list(dict.fromkeys(references))
    result.list_ids = [lid for lid in map(_list_id, texts.get("list-id", [])) if lid]
    if "auto-submitted" in texts:
        result.auto_submitted = _auto_submitted(texts["auto-submitted"][0])


def _read_message_id(result: ParsedMessage, values: list[str] | None) -> None:
    if not values:
        result.problems.append("no Message-ID header")
        return
    result.message_id = normalize_msgid(values[0])
    if result.message_id is None:
        length = len(values[0].strip())
        if length > MAX_MSGID_LEN:
            result.problems.append(f"Message-ID too long ({length} characters)")
        else:
            result.problems.append(f"unusable Message-ID: {values[0][:80]!r}")


def _read_date(values: list[str] | None, problems: list[str]) -> datetime | None:
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


def _addresses(values: list[str], label: str, problems: list[str]) -> list[Address]:
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
        Address(_decode_words(name, label, problems).strip(), addr.strip())
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


def _list_id(value: str) -> str | None:
    match = _ANGLE.search(value)
    text = (match.group(1) if match else value).strip()
    return text if text and not any(c.isspace() for c in text) else None


def _auto_submitted(value: str) -> str | None:
    """The keyword only ('auto-replied; owner=x' gives 'auto-replied'): what loop checks
    compare against 'no'."""
    keyword = re.split(r"[;(\s]", value.strip(), maxsplit=1)[0].lower()
    return keyword or None


def _header_text(value: str, label: str, problems: list[str]) -> str:
    """A raw header value as text: raw 8-bit bytes (which compat32 keeps as surrogate
    escapes) read as UTF-8, else latin-1; folding undone."""
    if not value.isascii():
        data = value.encode("utf-8", "surrogateescape")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            value = data.decode("latin-1")
            problems.append(f"raw 8-bit {label} header is not UTF-8, decoded as latin-1")
    return _unfold(value)


def _unfold(value: str) -> str:
    if "\n" in value or "\r" in value:
        return _FOLD.sub(" ", value).strip()
    return value


def _decode_words(value: str, label: str, problems: list[str]) -> str:
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
            text, trouble = _decode_text(bytes(pending), pending_charset)
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


def _first_header_value(raw: bytes, wanted: bytes) -> bytes | None:
    """The first value of header `wanted` (lower-case), read the way the stdlib feedparser
    reads headers: a line that is neither a header nor a continuation ends the block."""
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


def _bytes_to_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# --- body ------------------------------------------------------------------------------


def _read_body(result: ParsedMessage, msg: Message) -> None:
    """Collect the readable text and list the attachments, part by part; a part that
    fails to decode is reported and skipped, the others still count."""
    texts: list[str] = []
    for number, part in enumerate(_leaf_parts(msg, result.problems), 1):
        try:
            _read_part(result, part, number, texts)
        except Exception as exc:
            result.problems.append(f"could not decode part {number}: {type(exc).__name__}")
    result.body = "\n".join(texts)


def _leaf_parts(msg: Message, problems: list[str]) -> list[Message]:
    """Leaves in document order, iteratively (no recursion limit to hit); records the MIME
    defects the parser noted. message/rfc822 parts are leaves: a forwarded mail is an
    attachment, not part of this one's text."""
    leaves: list[Message] = []
    stack = [msg]
    while stack:
        part = stack.pop()
        for defect in part.defects:
            if not isinstance(defect, _BASE64_DEFECTS):
                problems.append(f"malformed MIME: {_describe_defect(defect)}")
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            stack.extend(reversed(part.get_payload()))
        else:
            leaves.append(part)
    return leaves


def _read_part(result: ParsedMessage, part: Message, number: int, texts: list[str]) -> None:
    content_type = part.get_content_type()
    maintype, _, subtype = content_type.partition("/")
    filename = _part_filename(part, result.problems)
    inline = filename is None and part.get_content_disposition() != "attachment"
    is_html = content_type == "text/html"
    result.has_html = result.has_html or is_html
    # RFC 2046 4.1.4: unknown text subtypes read as text/plain. A multipart whose
    # boundary is broken comes here as one leaf: its text is better shown than lost.
    is_text = inline and (maintype == "text" and not is_html or maintype == "multipart")
    is_patch = content_type in _PATCH_TYPES or (
        filename is not None and filename.lower().endswith((".patch", ".diff"))
    )
    if part.is_multipart():  # message/rfc822 and friends
        result.attachments.append(Attachment(filename, content_type, _embedded_size(part)))
        return
    data = _decode_payload(part, number, result.problems)
    if is_text or is_patch:
        text, trouble = _decode_text(data, part.get_content_charset())
        if trouble:
            result.problems.append(f"{trouble} in part {number}")
        texts.append(text)
        result.has_plain = result.has_plain or is_text
    if not is_text and not (is_html and inline):
        result.attachments.append(Attachment(filename, content_type, len(data)))


def _decode_payload(part: Message, number: int, problems: list[str]) -> bytes:
    """Transfer-decoded bytes of a leaf; bad base64, stray '=' in quoted-printable and
    unknown encodings are reported (the stdlib decodes leniently and stays quiet)."""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte not in _KNOWN_CTE:
        problems.append(f"unknown Content-Transfer-Encoding {cte[:40]!r} in part {number}")
    elif cte == "quoted-printable" and _has_bad_qp(part):
        problems.append(f"bad quoted-printable in part {number}")
    seen = len(part.defects)
    data = part.get_payload(decode=True)
    if any(isinstance(d, _BASE64_DEFECTS) for d in part.defects[seen:]):
        problems.append(f"bad base64 in part {number}")
    return data if isinstance(data, bytes) else b""


def _has_bad_qp(part: Message) -> bool:
    """A '=' that starts neither an escape nor a soft line break."""
    try:
        encoded = part.get_payload()  # decodes 8-bit bytes with the declared charset
    except Exception:
        return False
    return isinstance(encoded, str) and _BAD_QP.search(encoded) is not None


def _decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Bytes in a declared charset as text, and what went wrong if anything. Unknown
    charsets read as UTF-8, else latin-1; undeclared 8-bit text as UTF-8, else
    windows-1252; bytes invalid in a known charset are replaced."""
    label = (charset or "").strip().strip("\"'").lower()
    codec = _codec_for(label)
    if data.isascii() and codec not in _NOT_ASCII_SUPERSETS:
        return data.decode("ascii"), (None if codec else f"unknown charset {label!r}")
    if codec is None:
        try:
            return data.decode("utf-8"), f"undecodable charset {label!r}, decoded as utf-8"
        except UnicodeDecodeError:
            return data.decode("latin-1"), f"undecodable charset {label!r}, decoded as latin-1"
    try:
        return data.decode(codec), None
    except UnicodeDecodeError:
        pass
    if label in _UNDECLARED:
        return _decode_legacy(data), "8-bit text without a charset, read as windows-1252"
    if codec == "cp1252":
        return data.decode("latin-1"), None  # bytes windows-1252 leaves undefined
    return data.decode(codec, "replace"), f"invalid {label} text, bad bytes replaced"


def _decode_legacy(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@lru_cache(maxsize=512)
def _codec_for(label: str) -> str | None:
    """Python codec name for a MIME charset label; None when unknown or not a text codec
    (a label like 'base64' or 'rot13' must not reach bytes.decode)."""
    if label in _UNDECLARED:
        return "utf-8"
    if label in _AS_CP1252:
        return "cp1252"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def _part_filename(part: Message, problems: list[str]) -> str | None:
    try:
        filename = part.get_filename()
    except Exception:
        problems.append("unreadable attachment file name")
        return None
    if not isinstance(filename, str):
        return None
    return _decode_words(_header_text(filename, "file name", problems), "file name", problems)


def _embedded_size(part: Message) -> int:
    try:
        return len(part.get_payload(0).as_bytes())
    except Exception:
        return 0


def _describe_defect(defect: Exception) -> str:
    """'StartBoundaryNotFoundDefect' -> 'start boundary not found'."""
    name = type(defect).__name__.removesuffix("Defect")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def _remove_nuls(result: ParsedMessage) -> None:
    """NUL cannot be stored in PostgreSQL text columns; it is never meaningful in mail."""
    result.subject = result.subject.replace("\x00", "")
    result.body = result.body.replace("\x00", "")
    for address in [result.from_, *result.to, *result.cc]:
        if address is not None:
            address.name = address.name.replace("\x00", "")
            address.addr = address.addr.replace("\x00", "")
    for attachment in result.attachments:
        if attachment.filename:
            attachment.filename = attachment.filename.replace("\x00", "")
