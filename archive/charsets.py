"""Bytes in a MIME charset label as text, forgiving the labels and bytes real mail has.

Encoded words in headers (`archive.headers`) and body parts (`archive.parse`) both
decode through `decode_text`, so a charset is read the same way wherever it appears.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

# Charsets that browsers and mail readers read as windows-1252 (WHATWG Encoding), which
# recovers the curly quotes mislabelled Windows mail carries.
_AS_CP1252 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1", "cp819"}
_UNDECLARED = {"", "us-ascii", "ascii", "ansi_x3.4-1968", "us"}
_NOT_ASCII_SUPERSETS = {
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
    "utf-7",
}


def decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Bytes in a declared charset as text, and what went wrong if anything. Unknown
    charsets read as UTF-8, else latin-1; undeclared 8-bit text as UTF-8, else
    windows-1252; bytes invalid in a known charset are replaced."""
    label = (charset or "").strip().strip("\"'").lower()
    codec = _codec_for(label)
    if data.isascii() and codec not in _NOT_ASCII_SUPERSETS:
        return data.decode("ascii"), (None if codec else f"unknown charset {label!r}")
    if codec is None:
        try:
            return data.decode("utf-8"), f"undecodable charset {label!r}, decoded as utf-8"
        except UnicodeDecodeError:
            return data.decode("latin-1"), f"undecodable charset {label!r}, decoded as latin-1"
    try:
        return data.decode(codec), None
    except UnicodeDecodeError:
        pass
    if label in _UNDECLARED:
        return _decode_legacy(data), "8-bit text without a charset, read as windows-1252"
    if codec == "cp1252":
        return data.decode("latin-1"), None  # bytes windows-1252 leaves undefined
    return data.decode(codec, "replace"), f"invalid {label} text, bad bytes replaced"


def _decode_legacy(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@lru_cache(maxsize=512)
def _codec_for(label: str) -> str | None:
    """Python codec name for a MIME charset label; None when unknown or not a text codec
    (a label like 'base64' or 'rot13' must not reach bytes.decode)."""
    if label in _UNDECLARED:
        return "utf-8"
    if label in _AS_CP1252:
        return "cp1252"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name
