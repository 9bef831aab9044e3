"""The parts of a message that are not its readable text, numbered as public-inbox numbers
them, so `/<list>/<msgid>/<N>-<filename>` names the same part here as on lore.

public-inbox's `PublicInbox::Eml::each_part` numbers the leaves of the MIME tree: the
whole message is part 1 when it is not multipart; otherwise its parts are 1, 2, ... and
the parts of a nested multipart 2.1, 2.2, ... Parts that are nothing but blank lines are
skipped (and not counted), as there. message/rfc822 parts are leaves here, as in
`archive.parse`: a forwarded mail is one attachment.

Pure: bytes in, plain objects out; it never raises on bad mail (a part that will not
decode is listed with what could be read of it).
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32
from typing import cast

from archive.charsets import decode_text
from archive.parse import is_patch_part, part_filename

# Text attachments longer than this are listed, not shown in the page.
INLINE_TEXT_MAX = 256 * 1024
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_INDEX = re.compile(r"^[1-9][0-9]*(?:\.[1-9][0-9]*)*$")
_NESTING_MAX = 64  # deeper multiparts are read as one leaf, so no recursion runs away


@dataclass(frozen=True)
class Attachment:
    """One part of a message that is not its body text."""

    index: str  # public-inbox's part number: '2', '1.2'
    filename: str | None  # as the sender named it, decoded; None when unnamed
    content_type: str  # lower-case 'type/subtype'
    size: int  # bytes after transfer decoding
    text: str | None  # the decoded text of a text part shown in the page; else None

    @property
    def url_name(self) -> str:
        """The last segment of its download address, 'N-name': public-inbox's form; a
        name reduced to [A-Za-z0-9._-], so it is safe in a URL and a header."""
        return f"{self.index}-{safe_filename(self.filename, self.is_text)}"

    @property
    def is_text(self) -> bool:
        return self.content_type.startswith("text/")


@dataclass(frozen=True)
class Download:
    """An attachment's bytes, and how to serve them so no browser runs them."""

    attachment: Attachment
    data: bytes  # transfer-decoded
    charset: str | None  # as declared

    @property
    def content_type(self) -> str:
        """text/plain for text (re-encoded as UTF-8: the declared charset may be one that
        smuggles markup, such as UTF-7), else application/octet-stream; never a type a
        browser renders as a page or runs."""
        if self.attachment.is_text:
            return "text/plain; charset=utf-8"
        return "application/octet-stream"

    @property
    def body(self) -> bytes:
        if self.attachment.is_text:
            return decode_text(self.data, self.charset)[0].encode("utf-8")
        return self.data


def list_attachments(raw: bytes) -> list[Attachment]:
    """Every part of `raw` that is not shown as its body text: named parts, parts marked
    as attachments, and parts that are not text (HTML included: it is never rendered)."""
    return [found.attachment for found in _attachments(raw, with_data=False)]


def find_attachment(raw: bytes, index: str) -> Download | None:
    """The attachment numbered `index` ('2', '1.2') with its decoded bytes, or None when
    `raw` has no such attachment (a body text part is not one)."""
    if not _INDEX.match(index):
        return None
    for found in _attachments(raw, with_data=True, only=index):
        return found
    return None


def safe_filename(name: str | None, is_text: bool) -> str:
    """`name` with every run of characters outside [A-Za-z0-9._-] made one '-', and no
    leading dot; public-inbox's 'a.txt' or 'a.bin' when nothing is left."""
    cleaned = _UNSAFE_NAME_CHARS.sub("-", name or "").strip("-.")[:100].rstrip("-.")
    return cleaned or ("a.txt" if is_text else "a.bin")


# -- walking the tree ---------------------------------------------------------------------


def _attachments(raw: bytes, with_data: bool, only: str | None = None) -> Iterator[Download]:
    try:
        msg = email.message_from_bytes(raw, policy=compat32)
    except Exception:
        return
    for index, part in _numbered_leaves(msg):
        if only is not None and index != only:
            continue
        attachment = _describe(index, part, with_text=not with_data)
        if attachment is None:
            continue
        data = _payload(part) if with_data else b""
        yield Download(attachment, data, _charset(part))


def _numbered_leaves(msg: Message) -> Iterator[tuple[str, Message]]:
    """(index, leaf) in document order, numbered as public-inbox's each_part does."""
    if not _is_multipart(msg):
        yield "1", msg
        return
    stack: list[tuple[str, Iterator[tuple[int, Message]]]] = [("", enumerate(_subparts(msg), 1))]
    while stack:
        prefix, parts = stack[-1]
        taken = next(parts, None)
        if taken is None:
            stack.pop()
            continue
        number, part = taken
        index = f"{prefix}{number}"
        if _is_multipart(part) and len(stack) < _NESTING_MAX:
            stack.append((index + ".", enumerate(_subparts(part), 1)))
        else:
            yield index, part


def _subparts(part: Message) -> list[Message]:
    """The subparts worth a number: blank ones are skipped, as public-inbox skips them."""
    payload = cast(list[Message], part.get_payload())
    return [p for p in payload if not _is_blank(p)]


def _is_blank(part: Message) -> bool:
    if part.keys() or part.is_multipart():
        return False
    payload = part.get_payload()
    return isinstance(payload, str) and not payload.strip()


def _is_multipart(part: Message) -> bool:
    return part.is_multipart() and part.get_content_maintype() == "multipart"


def _describe(index: str, part: Message, with_text: bool) -> Attachment | None:
    """The part as an attachment, or None when it is body text (an unnamed inline text
    part, as `archive.parse` reads into the body)."""
    try:
        content_type = part.get_content_type()
    except Exception:
        content_type = "application/octet-stream"
    filename = _filename(part)
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    inline = filename is None and disposition != "attachment"
    maintype = content_type.partition("/")[0]
    if inline and maintype in ("text", "multipart") and content_type != "text/html":
        return None
    data = _payload(part)
    text = None
    if (
        with_text
        and maintype == "text"
        and content_type != "text/html"
        and not is_patch_part(content_type, filename)  # the body shows it; only listed
        and len(data) <= INLINE_TEXT_MAX
    ):
        text = _text(part, data)
    return Attachment(index, filename, content_type, len(data), text)


def _filename(part: Message) -> str | None:
    return (part_filename(part, problems=[]) or "").replace("\x00", "") or None


def _payload(part: Message) -> bytes:
    try:
        if part.is_multipart():  # message/rfc822: the embedded message as it is
            inner = part.get_payload(0)
            return inner.as_bytes() if isinstance(inner, Message) else b""
        data = part.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


def _text(part: Message, data: bytes) -> str:
    return decode_text(data, _charset(part))[0].replace("\x00", "")


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None
