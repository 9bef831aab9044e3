"""VERP envelope senders for list mail, in Mailman's form `LIST+bounces=LOCAL=DOMAIN@HOST`.

Each copy of a list message goes out with the subscriber's address folded into the
envelope sender, so a bounce names the subscriber in the address it comes back to, even
when the bounce itself is unreadable or names some forwarded-to address instead.
"""

from __future__ import annotations

import re

BOUNCES_TAG = "bounces"

# RFC 5322 atext plus '.': a dot-atom local part, without insisting on where dots go
# (real addresses with '..' exist). No quotes, no whitespace, no '@', ASCII only.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
# A host name: labels of letters, digits, '-' and '_'; never '=' (which the decoding needs).
_DOMAIN = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def verp_address(list_name: str, recipient: str, domain: str) -> str | None:
    """The envelope sender for `list_name`'s copy to `recipient`, or None when the
    recipient cannot be encoded (the caller then uses the plain bounces address).

    The recipient's local part keeps its case (some hosts care); its domain is
    lower-cased.
    """
    local, at, host = recipient.rpartition("@")
    if not at or not _LOCAL_PART.fullmatch(local):
        return None
    host = host.rstrip(".")
    if not _DOMAIN.fullmatch(host):
        return None
    return f"{list_name}+{BOUNCES_TAG}={local}={host.lower()}@{domain}"


def verp_recipient(local_part: str, list_name: str) -> str | None:
    """The subscriber address encoded in `local_part` (as received, any case), or None
    when it is not `list_name`'s VERP form.

    Split at the last '=': a domain never contains '=', a local part may.
    """
    prefix = f"{list_name}+{BOUNCES_TAG}="
    if not local_part.lower().startswith(prefix.lower()):
        return None
    local, eq, host = local_part[len(prefix) :].rpartition("=")
    if not eq or not _LOCAL_PART.fullmatch(local) or not _DOMAIN.fullmatch(host):
        return None
    return f"{local}@{host.lower()}"
