"""Message text as safe HTML: escaped, quotes set apart, http(s) links clickable.

A message body is untrusted text from anyone who can send mail. It is never rendered
as HTML; every character goes through `markupsafe.escape`, and the only markup added is
ours: a span around each run of quoted lines and an anchor around each http(s) URL.
Other schemes (javascript:, data:, file:, mailto:) stay plain text, so a crafted link
cannot run script or leave the page through anything but an ordinary web link.

Control characters in mail (a bell, an escape sequence, a bidirectional override) are
shown as what they are, not passed to the browser: `visible_controls` draws C0 controls
as their Unicode control pictures (U+2400..), and DEL, C1 controls and the bidi
embedding, override and isolate controls as escapes (\x7f, \u202e). Every piece of mail
text a page shows goes through it: the body here, the rest by the `visible` filter.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses
from urllib.parse import quote

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers.diff import DiffLexer

# Stop at whitespace, angle brackets and quotes: the usual ends of a URL in prose, and
# characters an href must not contain anyway.
_URL = re.compile(r"\bhttps?://[^\s<>\"'`\x00-\x1f\x7f]+", re.IGNORECASE)
# Punctuation that ends a sentence rather than the URL it follows.
_TRAILING = ".,;:!?*'\""
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_BIDI_CONTROLS = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
# Tab and newline stay as they are; a CR before a newline is dropped before translating.
_VISIBLE = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_VISIBLE |= {c: f"\\x{c:02x}" for c in (0x7F, *range(0x80, 0xA0))}
_VISIBLE |= {c: f"\\u{c:04x}" for c in _BIDI_CONTROLS}
ELLIPSIS = "\u2026"
# Class-named spans, no inline styles (the CSP forbids them).
HTML_FORMATTER = HtmlFormatter(nowrap=True)


def visible_controls(text: str) -> str:
    """`text` with every control character drawn visibly (see the module's docstring)."""
    return text.replace("\r\n", "\n").translate(_VISIBLE)


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def render_body(text: str, render_run: Callable[[str], Markup] | None = None) -> Markup:
    """The body as HTML for a <pre>: lines starting with '>' grouped in <span class="q">.

    Runs of lines of one kind are escaped and linkified together, one regex pass each, by
    `render_run` (default `linkify`; the tracker pages also link ticket references).
    """
    render_run = render_run or linkify
    out: list[str] = []
    run: list[str] = []
    run_quoted = False
    for line in text.splitlines(keepends=True):
        quoted = line.startswith(">")
        if quoted != run_quoted and run:
            out.append(_run_html(run, run_quoted, render_run))
            run = []
        run_quoted = quoted
        run.append(line)
    if run:
        out.append(_run_html(run, run_quoted, render_run))
    return Markup("".join(out))


def linkify(text: str) -> Markup:
    """Escape `text`, turning each http(s) URL into a link that does not leak the page."""
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = _trim_url(match.group(0))
        start = match.start()
        out.append(str(escape(visible_controls(text[pos:start]))))
        href = escape(url)
        out.append(f'<a href="{href}" rel="nofollow noopener noreferrer">{href}</a>')
        pos = start + len(url)
    out.append(str(escape(visible_controls(text[pos:]))))
    return Markup("".join(out))


def link_pieces(pieces: list[tuple[str, str | None]]) -> Markup:
    """(segment, url) pieces as HTML: a segment with a url is an anchor to it (a page of
    ours: a ticket), the others are escaped and linkified as `linkify` does."""
    html = []
    for segment, url in pieces:
        if url is None:
            html.append(str(linkify(segment)))
        else:
            html.append(f'<a href="{escape(url)}">{escape(visible_controls(segment))}</a>')
    return Markup("".join(html))


def _run_html(lines: list[str], quoted: bool, render_run: Callable[[str], Markup]) -> str:
    html = render_run("".join(lines))
    return f'<span class="q">{html}</span>' if quoted else str(html)


def _trim_url(url: str) -> str:
    """Drop sentence punctuation after a URL, and a ')' that closes text around it:
    '(see https://x/a_(b))' keeps one ')', 'https://x/y.' loses the dot."""
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last == ")" and url.count(")") > url.count("("):
            url = url[:-1]
        else:
            break
    return url


def to_filename(subject: str, fallback: str = "no-subject") -> str:
    """A file name from a subject, as public-inbox makes them: 'Re: [PATCH] x/y z' gives
    'PATCH-x-y-z'. Only [A-Za-z0-9._-], so it is safe in a Content-Disposition header."""
    while subject[:3].lower() == "re:":
        subject = subject[3:].lstrip()
    name = _NAME_CHARS.sub("-", subject).strip("-.")[:80].rstrip("-.")
    return name or fallback


@dataclass(frozen=True)
class ReplyInstructions:
    """What a reader needs to answer a message in the thread, as public-inbox's "Reply
    instructions" give it: the author as To, everyone else it went to as Cc."""

    to: str
    cc: list[str]
    in_reply_to: str
    subject: str

    @property
    def send_email(self) -> str:
        """The `git send-email` command, one switch a line, quoted for a POSIX shell."""
        switches = [f"--in-reply-to={shlex.quote(self.in_reply_to)}"]
        if self.to:
            switches.append(f"--to={shlex.quote(self.to)}")
        switches += [f"--cc={shlex.quote(cc)}" for cc in self.cc]
        return " \\\n    ".join(["git send-email", *switches, "/path/to/YOUR_REPLY"])

    @property
    def mailto(self) -> str:
        """A mailto: URI (RFC 6068) with In-Reply-To, Cc and Subject."""
        fields = [("In-Reply-To", f"<{self.in_reply_to}>")]
        if self.cc:
            fields.append(("Cc", ",".join(self.cc)))
        fields.append(("Subject", self.subject))
        query = "&".join(f"{name}={quote(value, safe='')}" for name, value in fields)
        return f"mailto:{quote(self.to, safe='@')}?{query}"


def reply_instructions(
    message_id: str, from_addr: str, to_text: str, cc_text: str, subject: str
) -> ReplyInstructions:
    """Reply instructions for a message: To its author, Cc its To and Cc addresses (each
    once, not the author), Subject with one 'Re: ' in front."""
    seen = {from_addr.lower()}
    cc: list[str] = []
    for _name, addr in getaddresses([to_text, cc_text]):
        if "@" in addr and addr.lower() not in seen:
            seen.add(addr.lower())
            cc.append(addr)
    reply_subject = subject if subject[:3].lower() == "re:" else f"Re: {subject}"
    return ReplyInstructions(from_addr, cc, message_id, reply_subject)


def highlight_diff(diff: str) -> Markup:
    """Pygments' HTML for a diff: its input escaped, tokens as class-named spans (the
    patch pages and the repository's commit page both show diffs so)."""
    return Markup(highlight(diff, DiffLexer(), HTML_FORMATTER))
