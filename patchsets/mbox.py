"""Build git-am-ready mail from an archived patch: the author's headers as sent, the
decoded text with the collected trailers added to the commit message, nothing else.

Pure: raw bytes and decoded text in, bytes out. `git am` (through `git mailinfo`) must
read back exactly the author, date, subject, message and diff the author sent, so the
From, Date and Subject header lines are copied byte for byte from the original mail, and
the text goes out re-encoded in one plain part: 8bit UTF-8, or quoted-printable when a
line could be taken for an mbox separator, holds a CR, or is too long for SMTP. That way
the output reads the same through mboxo and mboxrd readers alike.
"""

from __future__ import annotations

import quopri
import re
from collections.abc import Iterable

from archive.headers import find_first_header
from patchsets.trailers import Trailer, add_trailers

_COPIED_HEADERS = (b"from", b"date", b"subject", b"message-id")
_SEPARATOR = "From mailyard@z Thu Jan  1 00:00:00 1970\n"
# Where git mailinfo ends the commit message: a '---' line, or the diff itself.
_MESSAGE_END = re.compile(r"^(?:---[ \t]*$|diff -|Index: )", re.MULTILINE)
_RISKY_LINE = re.compile(r"^>*From |\r|[^\n]{900}", re.MULTILINE)
_QP_FROM = re.compile(rb"^(>*)From ", re.MULTILINE)


def commit_message_end(body: str) -> int:
    """Where the commit message of a patch mail's text ends, as `git mailinfo` decides:
    at the first `---` line, or where the diff starts."""
    end = _MESSAGE_END.search(body)
    return end.start() if end else len(body)


def insert_trailers(body: str, trailers: Iterable[Trailer]) -> str:
    """`body` with `trailers` added at the end of its commit message (before `---`)."""
    wanted = list(trailers)
    if not wanted:
        return body
    cut = commit_message_end(body)
    message, rest = body[:cut], body[cut:]
    stripped = message.rstrip("\n")
    updated = add_trailers(stripped + "\n", wanted)
    return updated + message[len(stripped) + 1 :] + rest if stripped else updated + rest


def patch_mail(raw: bytes, body: str, trailers: Iterable[Trailer] = ()) -> bytes:
    """One mbox entry (separator line included) for the patch archived as `raw`, whose
    decoded text is `body`."""
    text = insert_trailers(body, trailers)
    if not text.endswith("\n"):
        text += "\n"
    headers = [_header(raw, name) for name in _COPIED_HEADERS]
    data = text.encode("utf-8", "surrogateescape")
    if _RISKY_LINE.search(text):
        encoding = b"quoted-printable"
        data = _QP_FROM.sub(rb"\1=46rom ", quopri.encodestring(data))
    else:
        encoding = b"8bit"
    head = b"".join(h for h in headers if h)
    head += b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
    head += b"Content-Transfer-Encoding: " + encoding + b"\n"
    return _SEPARATOR.encode() + head + b"\n" + data + b"\n"


def _header(raw: bytes, name: bytes) -> bytes:
    value = find_first_header(raw.replace(b"\r\n", b"\n"), name)
    if value is None:
        return b""
    label = {b"message-id": b"Message-ID"}.get(name, name.capitalize())
    return label + b": " + value.rstrip(b"\n") + b"\n"
