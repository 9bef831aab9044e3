"""Reading and writing mbox files: imports of list archives, and the t.mbox.gz downloads.

Archives run to gigabytes, so reading streams line by line and writing streams entry by
entry; neither holds a whole file in memory. Messages come out byte for byte as they
went in, apart from the mbox escaping, which is the contract `git am` and `b4` rely on.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

# A From_ separator: 'From <sender> <asctime>', tolerating the variants real archives
# carry (two spaces after the sender, no seconds, a zone name or offset around the year).
_FROM_LINE = re.compile(
    rb"From \S* +[A-Za-z]{3} +[A-Za-z]{3} +\d{1,2} +\d{1,2}:\d\d(?::\d\d)?"
    rb"(?: +[A-Za-z]{1,5}| +[+-]\d{4})? +\d{4}(?: +[+-]\d{4}| +[A-Za-z]{1,5})? *\r?\n?\Z"
)
_RD_ESCAPED = re.compile(rb">+From ")
_RD_TO_ESCAPE = re.compile(rb"^(>*From )", re.MULTILINE)
_BLANK = (b"\n", b"\r\n")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAGIC = ((b"\x1f\x8b", gzip.open), (b"\xfd7zXZ\x00", lzma.open), (b"BZh", bz2.open))
_WRAPPERS = (
    (b"\x1f\x8b", lambda f: gzip.GzipFile(fileobj=f, mode="rb")),
    (b"\xfd7zXZ\x00", lambda f: lzma.LZMAFile(f, "rb")),
    (b"BZh", lambda f: bz2.BZ2File(f, "rb")),
)


def iter_mbox(fileobj: BinaryIO, fmt: str = "mboxrd") -> Iterator[bytes]:
    """Each message of an mbox, From_ line and trailing blank separator line removed and
    '>From ' unescaped: one level of '>' off every '>+From ' line for mboxrd, '>From ' to
    'From ' for mboxo. Line endings are kept (CRLF files give CRLF messages).

    A separator must follow a blank line and look like 'From <sender> <asctime>', so an
    unescaped 'From ' line in an mboxo body does not split a message. The first line of
    the file only needs 'From ' (fuzzed and hand-made archives have bare ones), and text
    before any separator counts as a message, so a lone .eml file reads as one message.
    """
    if fmt not in ("mboxrd", "mboxo"):
        raise ValueError(f"unknown mbox format {fmt!r}: use 'mboxrd' or 'mboxo'")
    unescape = _unescape_mboxrd if fmt == "mboxrd" else _unescape_mboxo
    lines: list[bytes] = []
    in_message = False  # a From_ line opened the current message
    previous_blank = True
    first = True
    for line in fileobj:
        if previous_blank and line.startswith(b"From ") and (first or _FROM_LINE.match(line)):
            if in_message or any(not x.isspace() for x in lines):
                yield _finish(lines)
            lines = []
            in_message = True
        else:
            lines.append(unescape(line) if line[:1] == b">" else line)
        previous_blank = line in _BLANK
        first = False
    if in_message or any(not x.isspace() for x in lines):
        yield _finish(lines)


def open_mbox(source: str | Path | BinaryIO) -> BinaryIO:
    """Open an mbox for reading as bytes, decompressing gzip, xz and bzip2 by their magic
    bytes. `source` is a path, or an open binary file (left open when the result is
    closed), so a caller can follow progress through the compressed file's position."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            head = f.read(6)
        opener = next((op for magic, op in _MAGIC if head.startswith(magic)), open)
        # The decompressing files are binary files, though typeshed does not call them BinaryIO.
        return cast(BinaryIO, opener(source, "rb"))
    # A real binary file has the readinto() that BufferedReader uses; BinaryIO omits it.
    raw = cast(io.RawIOBase, source)
    buffered = source if hasattr(source, "peek") else io.BufferedReader(raw)
    head = buffered.peek(6)[:6]
    for magic, wrap in _WRAPPERS:
        if head.startswith(magic):
            return cast(BinaryIO, wrap(buffered))
    return buffered


def mboxrd_entry(
    raw: bytes, envelope_from: str = "mailyard", date: datetime | None = None
) -> bytes:
    """One message as an mboxrd entry: From_ line, body with every '>*From ' line given one
    more '>', a final newline and the blank separator line. Line endings become LF, as
    `git am` expects. Without a date the From_ line uses the epoch (like public-inbox),
    so the same message always gives the same bytes."""
    body = raw.replace(b"\r\n", b"\n")
    body = _RD_TO_ESCAPE.sub(rb">\1", body)
    if not body.endswith(b"\n"):
        body += b"\n"
    sender = ("".join(envelope_from.split()) or "MAILER-DAEMON").encode("utf-8", "replace")
    return b"From " + sender + b" " + _asctime(date) + b"\n" + body + b"\n"


def iter_gzip(chunks: Iterable[bytes], level: int = 6) -> Iterator[bytes]:
    """`chunks` as one gzip stream, yielded as it fills up (a WSGI body can stream it).

    The gzip header carries no timestamp, so equal archives give equal files. Level 6,
    gzip(1)'s default: 9 costs twice the CPU for a few percent.
    """
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip framing
    pending = 0
    for chunk in chunks:
        out = compressor.compress(chunk)
        pending += len(chunk)
        if out:
            yield out
        if pending >= 1 << 16:
            yield compressor.flush(zlib.Z_SYNC_FLUSH)
            pending = 0
    yield compressor.flush()


def write_mboxrd_gz(entries: Iterable[bytes], fileobj: BinaryIO) -> None:
    """Write entries (from `mboxrd_entry`) as one gzip stream to `fileobj`, which stays open."""
    for part in iter_gzip(entries):
        fileobj.write(part)


def _finish(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in _BLANK:
        lines.pop()
    return b"".join(lines)


def _unescape_mboxrd(line: bytes) -> bytes:
    return line[1:] if _RD_ESCAPED.match(line) else line


def _unescape_mboxo(line: bytes) -> bytes:
    return line[1:] if line.startswith(b">From ") else line


def _asctime(date: datetime | None) -> bytes:
    """asctime() in English and UTC whatever the locale: 'Thu Jan  1 00:00:00 1970'."""
    when = _EPOCH if date is None else date
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    text = (
        f"{_DAYS[when.weekday()]} {_MONTHS[when.month - 1]} {when.day:2d} "
        f"{when:%H:%M:%S} {when.year}"
    )
    return text.encode("ascii")
