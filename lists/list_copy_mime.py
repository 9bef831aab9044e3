"""The byte-level half of a list copy: header fields kept as their own bytes, and the footer.

The author's DKIM signature covers header and body bytes. Reparsing the message with
`email` and generating it again rewrites folding, quoting and transfer encodings and
breaks that signature, so the message is cut into fields and body by hand here, and only
the fields a rule names are built anew. The footer is the one rule that must touch the
body; it decodes as little as it can and leaves the message alone when it cannot tell
what the bytes mean.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.base64mime
import email.quoprimime
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email.header import Header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

log = logging.getLogger(__name__)

FOOTER_SEPARATOR = "_" * 47
MAX_LINE = 77  # the longest line we write: under the 78 of RFC 5322's SHOULD

_LINE = re.compile(rb"[^\n]*\n|[^\n]+\Z")
_FIELD_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_TRANSFER_ENCODINGS = ("7bit", "8bit", "binary", "quoted-printable", "base64")


@dataclass(frozen=True)
class Field:
    """One header field as it arrived: its lines, continuations and line ends included."""

    name: str  # lower-cased; "" for a line in the header block that is no field
    raw: bytes

    @property
    def value(self) -> bytes:
        """The bytes after the colon, folding kept, without the final line end."""
        value = self.raw.split(b":", 1)[1] if self.name else b""
        return value.removesuffix(b"\n").removesuffix(b"\r")

    def text(self) -> str:
        """The value unfolded, as text (UTF-8, else Latin-1: 8-bit headers happen)."""
        value = _FOLD.sub(b"", self.value).strip()
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")


@dataclass(frozen=True)
class SplitMessage:
    fields: tuple[Field, ...]
    separator: bytes  # the blank line ending the header block; b"" when there was none
    body: bytes
    eol: bytes  # the line end of the first header line, used for every line we add

    def first(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def without(self, names: Iterable[str]) -> SplitMessage:
        drop = set(names)
        return replace(self, fields=tuple(f for f in self.fields if f.name not in drop))

    def to_bytes(self) -> bytes:
        separator = self.separator or (self.eol if self.body else b"")
        out = [f.raw if f.raw.endswith(b"\n") else f.raw + self.eol for f in self.fields]
        if out and not separator and not self.fields[-1].raw.endswith(b"\n"):
            out[-1] = self.fields[-1].raw  # a message that is all header, kept as it ended
        return b"".join(out) + separator + self.body


def line_ending(raw: bytes) -> bytes:
    """CRLF or LF, as the first line of `raw` ends (CRLF when there is no line end)."""
    end = raw.find(b"\n")
    return b"\n" if end > 0 and raw[end - 1 : end] != b"\r" else b"\r\n"


def split_message(raw: bytes) -> SplitMessage:
    """Header fields and body of `raw`; every byte of it is in the result, unchanged."""
    fields: list[tuple[str, bytes]] = []
    separator = b""
    end = 0
    for match in _LINE.finditer(raw):
        line = match.group()
        if line in (b"\n", b"\r\n"):
            separator, end = line, match.end()
            break
        end = match.end()
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + line)
            continue
        name = _FIELD_NAME.match(line)
        fields.append((name.group(1).decode("ascii").lower() if name else "", line))
    return SplitMessage(
        tuple(Field(n, r) for n, r in fields), separator, raw[end:], line_ending(raw)
    )


def fold_field(name: str, words: Iterable[str], eol: bytes) -> Field:
    """`Name: words...` folded between words so lines stay under 78 characters (a word
    longer than that is left whole)."""
    lines: list[str] = []
    line = f"{name}:"
    for word in words:
        if word and line != f"{name}:" and len(line) + 1 + len(word) > MAX_LINE:
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    raw = eol.join(s.encode("ascii", "replace") for s in lines) + eol
    return Field(name.lower(), raw)


def phrase_words(text: str) -> list[str]:
    """A display name as RFC 5322 wants it: a quoted string when ASCII, else RFC 2047
    encoded words short enough that each fits a folded line."""
    text = " ".join(_printable(text).split())
    if text.isascii():
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}"'.split(" ")
    return _encoded_words(text)


def text_words(text: str) -> list[str]:
    """Unstructured text (a Subject) as words to fold: as they are when ASCII, else
    RFC 2047 encoded words.

    Not `email.policy`'s folding: in Python 3.11 it drops the space between two encoded
    words at some line lengths, and a subject would lose it.
    """
    text = _printable(text)
    return text.split(" ") if text.isascii() else _encoded_words(text)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def _encoded_words(text: str) -> list[str]:
    return Header(text, "utf-8").encode(maxlinelen=60, linesep="\n").split()


def add_footer(msg: SplitMessage, footer: str) -> SplitMessage:
    """`msg` with the list footer added, Mailman's way; unchanged when that cannot be done
    without guessing (a multipart without its closing boundary, say)."""
    if not footer.strip():
        return msg
    lines = [FOOTER_SEPARATOR, *footer.strip("\r\n").splitlines()]
    try:
        head = _content_headers(msg)
        ctype = head.get_content_type()
        if ctype == "text/plain" and head.get_content_disposition() != "attachment":
            in_text = _footer_in_text(msg, head, lines)
            if in_text is not None:
                return in_text
        elif ctype == "multipart/mixed":
            return _footer_as_last_part(msg, head, lines) or msg
        return _wrap_with_footer(msg, lines)
    except Exception:  # noqa: BLE001  a footer is never worth losing the post
        log.exception("could not add the footer; the copy goes out without it")
        return msg


def _content_headers(msg: SplitMessage) -> Message:
    """The header fields as `email` reads them (a line that is no field would end its
    reading there, so it is left out)."""
    fields = [f.raw if f.raw.endswith(b"\n") else f.raw + msg.eol for f in msg.fields if f.name]
    block = b"".join(fields)
    return BytesHeaderParser(policy=compat32).parsebytes(block + msg.eol)


def _footer_in_text(msg: SplitMessage, head: Message, lines: list[str]) -> SplitMessage | None:
    """A text/plain body with the footer appended in its own charset and transfer
    encoding; None when the body does not decode as declared (the caller wraps it)."""
    cte = str(head.get("content-transfer-encoding", "7bit")).strip().lower()
    codec = _codec(head.get_content_charset("us-ascii"))
    if cte not in _TRANSFER_ENCODINGS or codec is None:
        return None
    try:
        decoded = _decode_transfer(msg.body, cte)
        text = decoded.decode(codec)
    except (ValueError, LookupError):  # binascii.Error and UnicodeDecodeError included
        return None
    nl = "\r\n" if b"\r\n" in decoded else "\n" if b"\n" in decoded else msg.eol.decode()
    addition = ("" if not text or text.endswith("\n") else nl) + nl.join(lines) + nl
    charset = None
    try:
        content = decoded + addition.encode(codec)
    except UnicodeEncodeError:
        content, charset = (text + addition).encode("utf-8"), "utf-8"
    new_cte = "quoted-printable" if cte == "7bit" and not content.isascii() else cte
    fields = list(msg.fields)
    if charset is not None:
        _set_content_type(fields, msg, charset)
    if new_cte != cte:
        cte_field = fold_field("Content-Transfer-Encoding", [new_cte], msg.eol)
        _put(fields, cte_field)
    body = _encode_transfer(content, new_cte, msg.eol)
    return replace(msg, fields=tuple(fields), body=body)


def _codec(charset: str) -> str | None:
    """The Python codec for a MIME charset, if it is one that keeps ASCII as ASCII (a
    footer appended byte-wise must not need a BOM or a shift state)."""
    try:
        name = codecs.lookup(charset.strip() or "us-ascii").name
        return name if "\n".encode(name) == b"\n" else None
    except (LookupError, UnicodeError, ValueError):
        return None


def _decode_transfer(body: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body))
    if cte == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


def _encode_transfer(content: bytes, cte: str, eol: bytes) -> bytes:
    if cte == "base64":
        return email.base64mime.body_encode(content, 76, eol.decode()).encode("ascii")
    if cte == "quoted-printable":
        encoded = email.quoprimime.body_encode(content.decode("latin-1"), 76, eol.decode())
        return encoded.encode("ascii")
    return content


def _set_content_type(fields: list[Field], msg: SplitMessage, charset: str) -> None:
    current = msg.first("content-type")
    legacy = Message()
    legacy["Content-Type"] = current.text() if current else "text/plain"
    legacy.set_param("charset", charset)
    _put(fields, fold_field("Content-Type", str(legacy["Content-Type"]).split(" "), msg.eol))
    if msg.first("mime-version") is None:
        _put(fields, fold_field("MIME-Version", ["1.0"], msg.eol))


def _put(fields: list[Field], new: Field) -> None:
    """Replace the first field of the same name, or add `new` at the end."""
    for i, field in enumerate(fields):
        if field.name == new.name:
            fields[i] = new
            return
    fields.append(new)


def _footer_part(lines: list[str], nl: bytes) -> bytes:
    """A text/plain part holding the footer, headers included, without a delimiter."""
    content = "\n".join(lines).encode("utf-8") + b"\n"
    cte = "7bit" if content.isascii() else "quoted-printable"
    body = _encode_transfer(content.replace(b"\n", nl), cte, nl)
    head = f"Content-Type: text/plain; charset=utf-8{nl.decode()}Content-Transfer-Encoding: {cte}"
    return head.encode("ascii") + nl + nl + body


def _footer_as_last_part(msg: SplitMessage, head: Message, lines: list[str]) -> SplitMessage | None:
    """multipart/mixed with a footer part before the closing boundary; None when the
    boundary is missing or never closes."""
    boundary = head.get_boundary()
    if not boundary or not boundary.isascii():  # 8-bit bytes read back as U+FFFD
        return None
    delimiter = b"--" + boundary.encode("ascii")
    opening = re.search(rb"(?:\A|\n)" + re.escape(delimiter) + rb"[ \t]*\r?\n", msg.body)
    closing = re.compile(rb"(\r?\n)" + re.escape(delimiter) + rb"--[ \t]*(?:\r?\n|\Z)")
    close = closing.search(msg.body, opening.end()) if opening else None
    if close is None:
        return None
    nl = close.group(1)
    part = nl + delimiter + nl + _footer_part(lines, nl)
    body = msg.body[: close.start()] + part + msg.body[close.start() :]
    return replace(msg, body=body)


def _wrap_with_footer(msg: SplitMessage, lines: list[str]) -> SplitMessage:
    """A multipart/mixed whose first part is the original content (with its Content-*
    fields) and whose second part is the footer."""
    nl = msg.eol
    boundary = _boundary_for(msg.body)
    delimiter = b"--" + boundary.encode("ascii")
    moved = [f for f in msg.fields if f.name.startswith("content-")]
    kept = [f for f in msg.fields if not f.name.startswith("content-")]
    first_head = b"".join(f.raw if f.raw.endswith(b"\n") else f.raw + nl for f in moved)
    body = (
        delimiter + nl + first_head + nl + msg.body + nl
        + delimiter + nl + _footer_part(lines, nl) + nl
        + delimiter + b"--" + nl
    )  # fmt: skip
    if msg.first("mime-version") is None:
        kept.append(fold_field("MIME-Version", ["1.0"], nl))
    kept.append(fold_field("Content-Type", ["multipart/mixed;", f'boundary="{boundary}"'], nl))
    if not body.isascii():
        kept.append(fold_field("Content-Transfer-Encoding", ["8bit"], nl))
    return replace(msg, fields=tuple(kept), separator=nl, body=body)


def _boundary_for(body: bytes) -> str:
    """A boundary that does not occur in `body`, the same one for the same body."""
    seed = body
    while True:
        seed = hashlib.sha256(seed).digest()
        boundary = "=_mailyard_" + seed.hex()[:24]
        if boundary.encode("ascii") not in body:
            return boundary
