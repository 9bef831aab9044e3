"""Message text as safe HTML: escaped, quotes set apart, http(s) links clickable.

A message body is untrusted text from anyone who can send mail. It is never rendered
as HTML; every character goes through `markupsafe.escape`, and the only markup added is
ours: a span around each run of quoted lines and an anchor around each http(s) URL.
Other schemes (javascript:, data:, file:, mailto:) stay plain text, so a crafted link
cannot run script or leave the page through anything but an ordinary web link.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup, escape

# Stop at whitespace, angle brackets and quotes: the usual ends of a URL in prose, and
# characters an href must not contain anyway.
_URL = re.compile(r"\bhttps?://[^\s<>\"'`\x00-\x1f\x7f]+", re.IGNORECASE)
# Punctuation that ends a sentence rather than the URL it follows.
_TRAILING = ".,;:!?*'\""
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


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
        out.append(str(escape(text[pos:start])))
        href = escape(url)
        out.append(f'<a href="{href}" rel="nofollow noopener noreferrer">{href}</a>')
        pos = start + len(url)
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


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
