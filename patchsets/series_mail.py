"""From `git format-patch` output to the mails a series is sent as (pure: no database).

What `git send-email` and `b4 send` do to format-patch's mails, done the same way:
the cover letter's `*** SUBJECT HERE ***` and `*** BLURB HERE ***` filled, a note below
a patch's `---` (where `git notes` go, and `git am` ignores it), stable Message-IDs in the
form b4 uses, every patch answering the cover letter (or the first patch), and the
cover letter answering the previous version. When the From is not the patch's author,
the body starts with an in-body `From:` line, so that `git am` keeps the author.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header, decode_header, make_header
from email.utils import parseaddr

COVER_SUBJECT = b"*** SUBJECT HERE ***"
COVER_BLURB = b"*** BLURB HERE ***"

# Headers this module writes; git's others (MIME-Version, Content-Type...) are kept.
_REPLACED = {
    b"from",
    b"to",
    b"cc",
    b"reply-to",
    b"date",
    b"message-id",
    b"in-reply-to",
    b"references",
}
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Addressing:
    """Who a copy of the series is from and to: header values, ASCII."""

    from_header: str
    to: Sequence[str]
    cc: Sequence[str] = ()
    reply_to: str | None = None


def message_ids(
    count: int, *, day: str, branch: str, version: int, key: str, domain: str
) -> list[str]:
    """b4's form, `<DAY-BRANCH-vN-K-HASH@DOMAIN>` (K from 0, the cover letter's), the same
    for the same series (`key`): a preview names the Message-IDs that will be sent, and
    sending twice is dropped by intake as a duplicate."""
    slug = _SLUG.sub("-", branch.lower()).strip("-")[:40] or "series"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return [f"<{day}-{slug}-v{version}-{k}-{digest}@{domain}>" for k in range(count)]


def fill_cover(raw: bytes, subject: str, blurb: str) -> bytes:
    """The cover letter with its subject and blurb; non-ASCII text is declared UTF-8."""
    head, body = _split(raw)
    if not subject.isascii():
        encoded = Header(subject, "utf-8", maxlinelen=998).encode()
        head = head.replace(COVER_SUBJECT, encoded.encode("ascii"))
    else:
        head = head.replace(COVER_SUBJECT, subject.encode())
    body = body.replace(COVER_BLURB, blurb.strip("\n").encode(), 1)
    return _utf8_head(head, body) + b"\n" + body


def add_note(raw: bytes, note: str) -> bytes:
    """The patch with `note` below its `---` line, above the diffstat."""
    note = note.strip("\n")
    if not note:
        return raw
    head, body = _split(raw)
    marker = body.find(b"\n---\n")
    if marker < 0:
        return raw
    cut = marker + len(b"\n---\n")
    body = body[:cut] + note.encode() + b"\n\n" + body[cut:]
    return _utf8_head(head, body) + b"\n" + body


def author_of(raw: bytes) -> tuple[str, str]:
    """(name, address) of format-patch's From: the commit's author, decoded."""
    value = _header_value(_split(raw)[0], b"from")
    name, address = parseaddr(str(make_header(decode_header(value))))
    return name, address


def address_mail(
    raw: bytes,
    addressing: Addressing,
    *,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    date: str,
    in_body_from: bool,
) -> bytes:
    """One mail of the series as sent: git's headers but those `_REPLACED`, then ours,
    CRLF line ends. `in_body_from` puts the author's `From:` line first in the body."""
    head, body = _split(raw)
    author = _header_value(head, b"from")
    if in_body_from:
        body = f"From: {str(make_header(decode_header(author)))}\n\n".encode() + body
        head = _utf8_head(head, body)
    kept = [field for field in _fields(head) if field[0].lower() not in _REPLACED]
    ours = [("From", addressing.from_header), ("To", ", ".join(addressing.to))]
    if addressing.cc:
        ours.append(("Cc", ", ".join(addressing.cc)))
    if addressing.reply_to:
        ours.append(("Reply-To", addressing.reply_to))
    ours += [("Date", date), ("Message-ID", message_id)]
    if in_reply_to:
        ours.append(("In-Reply-To", in_reply_to))
    if references:
        ours.append(("References", " ".join(references)))
    lines = [f"{name}: {value}\n".encode() for name, value in ours]
    lines += [name + b":" + value for name, value in kept]
    return _crlf(b"".join(lines) + b"\n" + body)


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """(header block with its final newline, body)."""
    end = raw.find(b"\n\n")
    if end < 0:
        return raw if raw.endswith(b"\n") else raw + b"\n", b""
    return raw[: end + 1], raw[end + 2 :]


def _fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, value with its continuation lines and newline) in order."""
    fields: list[tuple[bytes, bytes]] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + line)
        elif b":" in line:
            name, _, value = line.partition(b":")
            fields.append((name, value))
    return fields


def _header_value(head: bytes, name: bytes) -> str:
    for field, value in _fields(head):
        if field.lower() == name:
            return " ".join(value.decode("ascii", "replace").split())
    return ""


def _utf8_head(head: bytes, body: bytes) -> bytes:
    """`head`, with MIME headers saying UTF-8 when the body needs them and git wrote none
    (it writes them only for a non-ASCII commit message)."""
    if not body.isascii() and not any(f[0].lower() == b"content-type" for f in _fields(head)):
        head += (
            b"MIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=UTF-8\n"
            b"Content-Transfer-Encoding: 8bit\n"
        )
    return head


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
