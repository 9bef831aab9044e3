"""Where a message lives on the web, for the web itself and for mail that links to it
(`Archived-At`), in the URL scheme public-inbox uses and `b4` speaks.

public-inbox's `mid_escape` percent-encodes everything but the RFC 3986 path characters
`A-Za-z0-9-._~!$&'()*+,;=:@`, so a '/' in a Message-ID becomes %2F and the id stays one
path segment.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

# Besides the letters, digits and '-._~' that quote() never escapes.
_SAFE = "!$&'()*+,;=:@"


def mid_escape(msgid: str) -> str:
    """The Message-ID as one URL path segment (public-inbox's MID.pm `mid_escape`)."""
    return quote(msgid, safe=_SAFE)


def mid_unescape(segment: str) -> str:
    """The Message-ID in an escaped path segment. '+' stays '+': this is a path, not a
    form, so only %2B and '+' itself mean '+'."""
    return unquote(segment, errors="replace")


def message_url(base_url: str, list_name: str, msgid: str) -> str:
    """The absolute URL of a message's page on a list."""
    return f"{base_url.rstrip('/')}/{list_name}/{mid_escape(msgid)}/"
