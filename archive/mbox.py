"""Reading and writing mbox files: imports of list archives, and the t.mbox.gz downloads.

Archives run to gigabytes, so reading streams line by line and writing streams entry by
entry; neither holds a whole file in memory. Messages come out byte for byte as they
went in, apart from the mbox escaping, which is the contract `git am` and `b4` rely on.
"""

from __future__ import annotations

import bz2
import enum
import gzip
import io
import lzma
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from archive.headers import mend_header_block

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


class MboxFormat(enum.StrEnum):
    """How the messages of an mbox are separated and their 'From ' lines escaped."""

    # A separator is a From_ line with a date after a blank line; '>+From ' lines lose
    # one '>'. What public-inbox, `git format-patch` and Mailyard's downloads write.
    mboxrd = "mboxrd"
    # Separators as mboxrd; only '>From ' is unescaped (one level, the oldest form).
    mboxo = "mboxo"
    # Every 'From ' line that opens a mail header block is a separator, with or without
    # a date or a blank line before it (Python's `mailbox.mbox` splits at every 'From '
    # line; patchew and hand-made files write 'From nobody' or 'From A' right after a
    # body line); escaping as mboxo.
    mboxo_loose = "mboxo-loose"


@dataclass
class MboxStats:
    """What a read of an mbox noticed, filled in as `iter_mbox` goes."""

    # 'From ' lines inside a message that open a mail header block: under a strict
    # format these glue one message into the one before; mboxo-loose splits there.
    glued: int = 0


def iter_mbox(
    fileobj: BinaryIO, fmt: str = MboxFormat.mboxrd, stats: MboxStats | None = None
) -> Iterator[bytes]:
    """Each message of an mbox, From_ line and trailing blank separator line removed and
    '>From ' unescaped: one level of '>' off every '>+From ' line for mboxrd, '>From ' to
    'From ' for mboxo. Line endings are kept (CRLF files give CRLF messages).

    For mboxrd and mboxo a separator must follow a blank line and look like 'From <sender>
    <asctime>', so an unescaped 'From ' line in an mboxo body does not split a message;
    one that opens a mail header block all the same is counted in `stats.glued`, so a
    caller can say so rather than glue messages silently. mboxo-loose splits there. The
    first line of the file only needs 'From ' (fuzzed and hand-made archives have bare
    ones), and text before any separator counts as a message, so a lone .eml file reads
    as one message.
    """
    try:
        form = MboxFormat(fmt)
    except ValueError:
        choices = ", ".join(repr(f.value) for f in MboxFormat)
        raise ValueError(f"unknown mbox format {fmt!r}: use one of {choices}") from None
    unescape = _unescape_mboxrd if form is MboxFormat.mboxrd else _unescape_mboxo
    loose = form is MboxFormat.mboxo_loose
    stats = stats if stats is not None else MboxStats()
    lines: list[bytes] = []
    in_message = False  # a From_ line opened the current message
    previous_blank = True
    first = True
    source = iter(fileobj)
    ahead: list[bytes] = []  # lines read to look past a 'From ' line, in reverse order
    for line in _with_pushback(source, ahead):
        separator = False
        if line.startswith(b"From "):
            if first or previous_blank and _FROM_LINE.match(line):
                separator = True
            elif _opens_header_block(source, ahead):
                separator = loose
                stats.glued += not loose
        if separator:
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


def looks_like_mail(raw: bytes) -> bool:
    """Whether `raw` begins with mail header fields, one of them a field every mail has
    (From, Date, Message-ID...). An /etc/passwd or a binary file read as an mbox is one
    'message' that fails this."""
    head = raw[: raw.find(b"\n\n") + 1 or _HEAD_LIMIT][:_HEAD_LIMIT]
    lines = mend_header_block(head).splitlines()  # read as `archive.parse` reads it
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]  # an envelope line left in the message
    return _known_fields(lines) >= 1


# Fields that a mail header block has; two of them after a 'From ' line mark a message.
_MAIL_FIELDS = frozenset(
    b"from to cc date subject message-id in-reply-to references received return-path "
    b"delivered-to mime-version content-type reply-to sender list-id x-mailer".split()
)
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")
_LOOKAHEAD = 200  # header lines read after a 'From ' line to tell whether mail starts there
_HEAD_LIMIT = 1 << 16


def _with_pushback(source: Iterator[bytes], ahead: list[bytes]) -> Iterator[bytes]:
    for line in source:
        yield line
        while ahead:
            yield ahead.pop()


def _opens_header_block(source: Iterator[bytes], ahead: list[bytes]) -> bool:
    """Whether the lines after a 'From ' line begin with two fields mail headers have
    (`_known_fields`); the lines read to tell are pushed back onto `ahead` to be read again."""
    seen: list[bytes] = list(reversed(ahead))
    ahead.clear()
    if not any(line in _BLANK or not _is_header_line(line) for line in seen):
        for line in source:
            seen.append(line)
            if line in _BLANK or not _is_header_line(line) or len(seen) >= _LOOKAHEAD:
                break
    ahead.extend(reversed(seen))
    return _known_fields(seen) >= 2


def _is_header_line(line: bytes) -> bool:
    return line[:1] in (b" ", b"\t") or _FIELD.match(line) is not None


def _known_fields(lines: list[bytes]) -> int:
    """How many distinct mail fields (`_MAIL_FIELDS`) the header lines at the start of
    `lines` hold; the first line that is neither a field nor a continuation ends them."""
    known: set[bytes] = set()
    for number, line in enumerate(lines):
        if line[:1] in (b" ", b"\t") and number:
            continue
        match = _FIELD.match(line)
        if match is None:
            break
        name = match.group(1).lower()
        if name in _MAIL_FIELDS:
            known.add(name)
    return len(known)


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
