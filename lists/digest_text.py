"""The plain-text daily digest, laid out as RFC 1153 (and Mailman's plain digest) lay it out.

Keeping to RFC 1153 to the letter is what lets mail readers burst a digest back into
its messages (mutt, Emacs, `formail -ds`): each message starts after a line of 30
hyphens and a blank line, with its own Date/From/Subject/Message-ID lines. Body lines
that begin with '-' are stuffed as RFC 934 says, so no body can forge a separator.
This module only builds text; the caller counts issues, encodes and sends.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parseaddr

TOPICS_SEPARATOR = "-" * 70  # between the table of contents and the first message
MESSAGE_SEPARATOR = "-" * 30  # after every message, the last one included
TOPICS_WIDTH = 70


@dataclass(frozen=True)
class DigestEntry:
    author: str  # 'Alice Example <alice@example.org>' as display text
    date: datetime | None
    subject: str
    message_id: str  # without angle brackets
    body: str  # decoded text of the message


def digest_subject(list_name: str, volume: int, issue: int) -> str:
    """'dev Digest, Vol 1, Issue 3': the Subject, and the name the trailer repeats."""
    return f"{list_name} Digest, Vol {volume}, Issue {issue}"


def digest_body(
    list_name: str,
    posting_address: str,
    volume: int,
    issue: int,
    entries: Sequence[DigestEntry],
    *,
    archive_url: str,
    help_address: str,
    unsubscribe_address: str,
) -> str:
    """The whole digest text, lines ending in '\\n'.

    With no entries the digest says so; the caller is expected not to send it.
    """
    subject = digest_subject(list_name, volume, issue)
    lines = _preamble(
        list_name, subject, posting_address, archive_url, help_address, unsubscribe_address
    )
    lines += ["", "Today's Topics:", ""]
    if entries:
        for number, entry in enumerate(entries, 1):
            lines += _topic(number, entry)
    else:
        lines.append("   There are no messages in this issue.")
    lines += ["", "", TOPICS_SEPARATOR, ""]
    for entry in entries:
        lines += _message(entry)
        lines += ["", MESSAGE_SEPARATOR, ""]
    trailer = f"End of {subject}"
    lines += [trailer, "*" * len(trailer)]
    return "\n".join(lines) + "\n"


def _preamble(
    list_name: str,
    subject: str,
    posting_address: str,
    archive_url: str,
    help_address: str,
    unsubscribe_address: str,
) -> list[str]:
    paragraphs = [
        (f"Send {list_name} mailing list submissions to", posting_address),
        (f"The archive of {list_name} is at", archive_url),
        ("For help with the list, write to", help_address),
        ("To stop receiving the digest, or to unsubscribe, write to", unsubscribe_address),
    ]
    lines: list[str] = []
    for intro, value in paragraphs:
        if value.strip():  # an address or URL the list does not have is left out
            lines += [intro, f"    {_single_line(value)}", ""]
    lines += [
        "When replying, please edit your Subject line so it is more specific",
        f'than "Re: {subject}".',
        "",
    ]
    return lines


def _topic(number: int, entry: DigestEntry) -> list[str]:
    """'   1. Subject (Author Name)', wrapped under itself."""
    text = f"{_subject(entry)} ({_author_name(entry.author)})"
    return textwrap.wrap(
        text,
        width=TOPICS_WIDTH,
        initial_indent=f"{number:4d}. ",
        subsequent_indent=" " * 6,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _message(entry: DigestEntry) -> list[str]:
    lines: list[str] = []
    if entry.date is not None:
        lines.append(f"Date: {format_datetime(entry.date)}")
    lines.append(f"From: {_single_line(entry.author)}")
    lines.append(f"Subject: {_subject(entry)}")
    message_id = _single_line(entry.message_id).strip("<>")
    if message_id:
        lines.append(f"Message-ID: <{message_id}>")
    lines.append("")
    lines += _stuffed_body(entry.body)
    return lines


def _stuffed_body(body: str) -> list[str]:
    """The body's lines, blank lines trimmed from both ends, '-' lines stuffed (RFC 934)."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return [f"- {line}" if line.startswith("-") else line for line in lines]


def _subject(entry: DigestEntry) -> str:
    return _single_line(entry.subject) or "(no subject)"


def _author_name(author: str) -> str:
    """The display name, else the address, else the text as given."""
    name, address = parseaddr(author)
    return _single_line(name or address or author) or "unknown"


def _single_line(text: str) -> str:
    """Whitespace, line breaks included, collapsed: a header-like line must stay one line."""
    return " ".join(text.split())
