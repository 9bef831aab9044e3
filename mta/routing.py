"""From a recipient address to what intake does with it, over the address kinds the
domains declare (`mail.address_kinds`, in the order `mailyard/wiring.py` gives).

Each kind's pattern matches the local part of an address at `settings.domain`
(lower-cased, so addresses are case-insensitive); kinds are tried in order, and the first
whose target is found wins. This module names no domain: a new kind of address is a new
`AddressKind` in its domain's `addresses.py`, listed in `wiring.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.settings import Settings
from mail.address_kinds import AddressKind
from mail.addresses import is_local, split_address
from mail.policy import Decision, Reason, reject, unknown_address

__all__ = ["Route", "is_local", "relay_refused", "route", "split_address"]


@dataclass(frozen=True)
class Route:
    kind: AddressKind
    address: str  # as the client gave it in RCPT TO
    target: Any  # what the kind's `find_target` found


def relay_refused(settings: Settings, address: str) -> Decision:
    """The refusal of a recipient elsewhere on the port that takes mail without a login:
    it is no open relay, and it says where signed-in users send to anyone."""
    how = (
        f"send to other addresses through the submission port {settings.submission_listen}"
        " (AUTH with your username and an API token)"
        if settings.submission_listen
        else "it relays nothing"
    )
    return reject(
        Reason.NOT_ALLOWED,
        f"<{address}>: not relayed: this server takes mail only for @{settings.domain}; {how}",
    )


def route(
    session: Session,
    settings: Settings,
    kinds: Sequence[AddressKind],
    address: str,
    sender: str | None = None,
) -> Route | Decision:
    """Where mail for `address` goes, or the refusal to give at RCPT time. With the
    envelope `sender` ('' for the null sender), each kind's `screen` may refuse those who
    can do nothing with the address; None skips that check."""
    local, domain = split_address(address)
    if not domain and local == "postmaster":
        domain = settings.domain.lower()  # RFC 5321 4.5.1: `RCPT TO:<Postmaster>` too
    if not domain:
        return reject(
            Reason.UNKNOWN_RECIPIENT,
            f"<{address}>: no such list here (this server takes mail for @{settings.domain})",
        )
    if not is_local(settings, domain):
        return relay_refused(settings, address)
    for kind in kinds:
        match = kind.pattern.fullmatch(local)
        if match is None:
            continue
        if sender is not None and kind.screen is not None:
            refusal = kind.screen(session, settings, address, match, sender)
            if refusal is not None:
                return refusal
        target = kind.find_target(session, settings, match)
        if isinstance(target, Decision):
            return target
        if target is None:
            continue
        return Route(kind, address, target)
    return unknown_address(settings.domain, address)
