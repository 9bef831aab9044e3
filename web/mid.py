"""Message-IDs in URLs, escaped exactly as public-inbox escapes them.

`archive.urls.mid_escape` escapes them as public-inbox does. `b4` and `lei` build the
same URLs (b4 with `quote_plus`, which encodes more, '+' as %2B and '@' as %40;
unescaping either gives the same id back).

WSGI servers hand the application a PATH_INFO that is already percent-decoded, so a
%2F arrives as '/' and the segment boundary is lost. `message_path` therefore reads the
raw request URI where the server provides one (gunicorn: RAW_URI, Werkzeug and mod_wsgi:
REQUEST_URI) and falls back to the decoded path, splitting the known views off its end
as public-inbox does for servers that unescape slashes. A last segment `N-filename` (N
as `2` or `1.2`) names an attachment, as in public-inbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from archive.urls import mid_escape, mid_unescape

__all__ = ["MessagePath", "message_path", "mid_escape", "mid_unescape", "split_message_path"]

# The views below a message, by their path suffix after the Message-ID.
MESSAGE = ""
RAW = "raw"
THREAD_MBOX = "t.mbox.gz"
FLAT = "T/"
NESTED = "t/"
ATTACHMENT = "attachment"  # /<N>-<filename>, public-inbox's form; N as archive.attachments

_VIEWS = (
    (FLAT, "/T/"),
    (NESTED, "/t/"),
    (RAW, "/raw"),
    (THREAD_MBOX, "/t.mbox.gz"),
    (MESSAGE, "/"),
)
_ATTACHMENT = re.compile(r"/([1-9][0-9]*(?:\.[1-9][0-9]*)*)-[^/]*\Z")
# Paths public-inbox redirects to a canonical one: the thread views without their slash.
_REDIRECTS = ((FLAT, "/T"), (NESTED, "/t"))


@dataclass(frozen=True)
class MessagePath:
    """What a URL below /<list>/ asks for: a Message-ID and one of its views.

    `canonical` is False when public-inbox would answer with a redirect (no trailing
    slash, or `T` for `T/`); the caller then redirects to the canonical URL.
    """

    msgid: str
    view: str
    canonical: bool = True
    part: str = ""  # the attachment's number, for ATTACHMENT


def split_message_path(tail: str, escaped: bool) -> MessagePath | None:
    """Parse the part of a path after '/<list>/', e.g. 'a%2Fb@x/raw'.

    With `escaped`, the Message-ID is still percent-encoded and is unescaped here; without,
    it was decoded by the server and is taken as it is (a '/' inside it then comes out
    right as long as the id does not itself end in a view's name, as in public-inbox).
    Returns None when no Message-ID is left.
    """
    found = _split_view(tail)
    msgid = mid_unescape(found.msgid) if escaped else found.msgid
    if not msgid:
        return None
    return MessagePath(msgid, found.view, found.canonical, found.part)


def _split_view(tail: str) -> MessagePath:
    """The view `tail` ends in, and the (still raw) Message-ID before it."""
    attachment = _ATTACHMENT.search(tail)
    if attachment:
        return MessagePath(tail[: attachment.start()], ATTACHMENT, part=attachment.group(1))
    for view, suffix in _VIEWS:
        if tail.endswith(suffix):
            return MessagePath(tail[: -len(suffix)], view)
    for view, suffix in _REDIRECTS:
        if tail.endswith(suffix):
            return MessagePath(tail[: -len(suffix)], view, canonical=False)
    return MessagePath(tail, MESSAGE, canonical=False)


def message_path(environ: dict, decoded_path: str) -> MessagePath | None:
    """The Message-ID and view a request for /<list>/<msgid>/... asks for.

    `decoded_path` is the request path below the application root (Flask's
    `request.path`). The raw URI is used only when it decodes to that same path, so a
    proxy that rewrote the path cannot make the two disagree.
    """
    raw = _raw_path(environ)
    if raw is not None and unquote(raw, errors="replace") == decoded_path:
        parts = raw.split("/", 2)
        if len(parts) == 3:
            return split_message_path(parts[2], escaped=True)
    parts = decoded_path.split("/", 2)
    if len(parts) < 3:
        return None
    return split_message_path(parts[2], escaped=False)


def _raw_path(environ: dict) -> str | None:
    """The still-escaped request path below SCRIPT_NAME, if the server kept it."""
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not uri:
        return None
    # WSGI strings are bytes decoded as latin-1; undo that before reading UTF-8 escapes.
    uri = uri.encode("latin-1", "replace").decode("utf-8", "replace")
    if not uri.startswith("/"):
        uri = urlsplit(uri).path  # an absolute-form request target
    path = uri.split("?", 1)[0].split("#", 1)[0]
    script = environ.get("SCRIPT_NAME", "")
    if script:
        # SCRIPT_NAME is decoded; a mount point has no escaped slashes, so it spans as
        # many segments of the raw path as it has.
        parts = path.split("/")
        path = "/" + "/".join(parts[script.rstrip("/").count("/") + 1 :])
    return path
