"""Who a mail sent for a user (from the web, by a maintainer's action) says it is from.

A receiver checks the From domain's DMARC policy against our SPF and DKIM. Mailyard may
therefore write a user's own address in From only for a domain it may send for: its own
and the configured `sender_domains`. For anyone else the mail is From
`"Name via Mailyard" <noreply@DOMAIN>` with Reply-To the user, as lists.sr.ht and
Mailman's DMARC mitigation do; a patch keeps its author in an in-body `From:` line,
which `git am` prefers to the header (`patchsets.send_series`).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr

from core.settings import Settings


@dataclass(frozen=True)
class SenderHeaders:
    """Header values, ASCII: a non-ASCII name is an RFC 2047 encoded word."""

    from_header: str
    reply_to: str | None  # set when From is not the user's own address
    own_address: bool  # From is the user's address

    def as_headers(self) -> dict[str, str]:
        headers = {"From": self.from_header}
        if self.reply_to:
            headers["Reply-To"] = self.reply_to
        return headers


def sendable_domains(settings: Settings) -> set[str]:
    extra = (d.strip().lower().rstrip(".") for d in settings.sender_domains.split(","))
    return {settings.domain.lower(), *(d for d in extra if d)}


def may_send_as(settings: Settings, address: str) -> bool:
    """Whether mail From `address` may leave this instance (its domain, or a subdomain
    of one, is ours to send for)."""
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in sendable_domains(settings))


def noreply_address(settings: Settings) -> str:
    return f"noreply@{settings.domain}"


def on_behalf_of(settings: Settings, name: str, address: str) -> SenderHeaders:
    """The From (and Reply-To) of mail sent for the user `name <address>`."""
    own = formataddr((name, address)) if name else address
    if may_send_as(settings, address):
        return SenderHeaders(own, None, True)
    shown = name or address.partition("@")[0]
    return SenderHeaders(
        formataddr((f"{shown} via Mailyard", noreply_address(settings))), own, False
    )
