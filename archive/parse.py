"""Parse one raw message into plain data: decoded headers, the readable text, problems.

Intake must never crash on bad mail (DESIGN: "Bad input never crashes intake"), so
`parse_message` returns a best-effort result for any bytes and lists what was wrong in
`problems` instead of raising.

We parse with `policy.compat32` (~5x faster than `policy.default`) and decode only the
headers we use, with the functions in `archive.headers`; this module reads the MIME body.
A header block with stray lines in it is mended first (`mend_header_block`), so a line
without a colon continues a header instead of ending them all.
The header helpers other modules use (`Address`, `normalize_msgid`, `parse_msgid_list`,
`strip_subject_prefixes`) are re-exported here, so `archive.parse` stays the one import.
"""

from __future__ import annotations

import email
import email.errors
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import cast

from archive.charsets import decode_text
from archive.headers import (
    MAX_MSGID_LEN,
    MAX_REFERENCES,
    Address,
    bytes_to_text,
    decode_header_text,
    decode_words,
    drop_false_references,
    find_first_header,
    mend_header_block,
    normalize_msgid,
    parse_addresses,
    parse_auto_submitted,
    parse_list_id,
    parse_msgid_list,
    read_date,
    strip_subject_prefixes,
)

__all__ = [
    "MAX_MSGID_LEN",
    "Address",
    "Attachment",
    "ParsedMessage",
    "extract_message_id",
    "normalize_msgid",
    "parse_message",
    "parse_msgid_list",
    "strip_subject_prefixes",
]


@dataclass
class Attachment:
    filename: str | None
    content_type: str
    size: int  # bytes after transfer decoding


@dataclass
class ParsedMessage:
    message_id: str | None = None  # without <>; None when missing or unusable
    extra_message_ids: list[str] = field(default_factory=list)  # of more Message-ID headers
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
    # Not parsed: set by intake when the connection itself proved the From (a user
    # signed in on the submission port sending as their own address), so the mail acts
    # as its account as a DKIM or PGP signature would make it (`accounts.sender_auth`):
    # "esmtpa" for the submission port.
    from_proven_by: str | None = None


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
_MSGID_HEADERS = ("message-id", "in-reply-to", "references")

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
        raw = mend_header_block(raw)
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
    SMTP time. Reads the header block as `parse_message` does (mended, then ended where
    the stdlib parser ends it), so the two agree."""
    try:
        value = find_first_header(raw, b"message-id")
        if value is None:
            return None
        return normalize_msgid(bytes_to_text(value))
    except Exception:
        return None


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
        key: [decode_header_text(v, _LABELS[key], problems, key in _MSGID_HEADERS) for v in values]
        for key, values in found.items()
    }
    _read_message_id(result, texts.get("message-id"))
    if "subject" in texts:
        result.subject = decode_words(texts["subject"][0], "Subject", problems).strip()
    if "from" in texts:
        senders = parse_addresses(texts["from"][:1], "From", problems)
        result.from_ = senders[0] if senders else None
    else:
        problems.append("no From header")
    result.to = parse_addresses(texts.get("to", []), "To", problems)
    result.cc = parse_addresses(texts.get("cc", []), "Cc", problems)
    result.date = read_date(texts.get("date"), problems)
    addresses = [*result.to, *result.cc, *([result.from_] if result.from_ else [])]
    in_reply_to = [m for v in texts.get("in-reply-to", []) for m in parse_msgid_list(v)]
    result.in_reply_to = drop_false_references(in_reply_to, addresses)
    references = [m for v in texts.get("references", []) for m in parse_msgid_list(v)]
    references = drop_false_references(list(dict.fromkeys(references)), addresses)
    if len(references) > MAX_REFERENCES:
        problems.append(f"References cut to the last {MAX_REFERENCES} of {len(references)} ids")
    result.references = references[-MAX_REFERENCES:]
    result.list_ids = [lid for lid in map(parse_list_id, texts.get("list-id", [])) if lid]
    if "auto-submitted" in texts:
        result.auto_submitted = parse_auto_submitted(texts["auto-submitted"][0])


def _read_message_id(result: ParsedMessage, values: list[str] | None) -> None:
    if not values:
        result.problems.append("no Message-ID header")
        return
    result.message_id = normalize_msgid(values[0])
    others = (normalize_msgid(value) for value in values[1:])
    result.extra_message_ids = list(
        dict.fromkeys(m for m in others if m and m != result.message_id)
    )
    if result.message_id is None:
        length = len(values[0].strip())
        if length > MAX_MSGID_LEN:
            result.problems.append(f"Message-ID too long ({length} characters)")
        else:
            result.problems.append(f"unusable Message-ID: {values[0][:80]!r}")


# --- body ------------------------------------------------------------------------------


def _read_body(result: ParsedMessage, msg: Message) -> None:
    """Collect the readable text and list the attachments, part by part; a part that
    fails to decode is reported and skipped, the others still count."""
    texts: list[str] = []
    for number, part in enumerate(_leaf_parts(msg, result.problems), 1):
        try:
            _read_part(result, part, number, texts, whole=part is msg)
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
            # is_multipart() means the payload is the list of subparts
            stack.extend(reversed(cast(list[Message], part.get_payload())))
        else:
            leaves.append(part)
    return leaves


def _read_part(
    result: ParsedMessage, part: Message, number: int, texts: list[str], whole: bool = False
) -> None:
    """Read one leaf; `whole` when it is the whole mail (not multipart)."""
    content_type = part.get_content_type()
    maintype, _, subtype = content_type.partition("/")
    filename = part_filename(part, result.problems)
    inline = filename is None and part.get_content_disposition() != "attachment"
    is_html = content_type == "text/html"
    result.has_html = result.has_html or is_html
    # RFC 2046 4.1.4: unknown text subtypes read as text/plain. A multipart whose
    # boundary is broken comes here as one leaf: its text is better shown than lost.
    is_text = inline and (maintype == "text" and not is_html or maintype == "multipart")
    is_patch = is_patch_part(content_type, filename)
    if part.is_multipart():  # message/rfc822 and friends
        result.attachments.append(Attachment(filename, content_type, _embedded_size(part)))
        return
    data = _decode_payload(part, number, result.problems)
    if whole and maintype == "application" and not (is_text or is_patch):
        # A whole mail declared binary (application/octet-stream) whose bytes are text:
        # `git mailinfo` reads it as the body whatever its type, so `git format-patch`
        # text sent so is a patch to git and to patchew, and its text is read here too.
        text = _text_if_text(data, part.get_content_charset())
        if text is not None:
            texts.append(text)
    if is_text or is_patch:
        text, trouble = decode_text(data, part.get_content_charset())
        if trouble:
            result.problems.append(f"{trouble} in part {number}")
        texts.append(text)
        result.has_plain = result.has_plain or is_text
    if not is_text and not (is_html and inline):
        result.attachments.append(Attachment(filename, content_type, len(data)))


def _text_if_text(data: bytes, charset: str | None) -> str | None:
    """`data` as text if it is text: no NUL, and valid in its declared charset (UTF-8 if
    none); None for binary data."""
    if b"\x00" in data:
        return None
    for label in dict.fromkeys([charset or "utf-8", "utf-8"]):
        try:
            return data.decode(label)
        except (LookupError, UnicodeDecodeError):
            continue
    return None


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


def is_patch_part(content_type: str, filename: str | None) -> bool:
    """A patch file attached to a message, which is read into the body text."""
    return content_type in _PATCH_TYPES or (
        filename is not None and filename.lower().endswith((".patch", ".diff"))
    )


def part_filename(part: Message, problems: list[str]) -> str | None:
    """A part's file name, RFC 2231 and RFC 2047 decoded; None when it has none."""
    try:
        filename = part.get_filename()
    except Exception:
        problems.append("unreadable attachment file name")
        return None
    if not isinstance(filename, str):
        return None
    return decode_words(decode_header_text(filename, "file name", problems), "file name", problems)


def _embedded_size(part: Message) -> int:
    try:
        inner = part.get_payload(0)
        return len(inner.as_bytes()) if isinstance(inner, Message) else 0
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
