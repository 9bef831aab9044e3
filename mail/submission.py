"""What authenticated submission asks of the identity floor, without naming it.

The submission port (`mta.submission`) needs to know who a username and a password are,
and which addresses that person may send as. Accounts answer that (`accounts.smtp_auth`),
connected by `mailyard/wiring.py` to `AUTHENTICATE`; the refusals are declared here so
that the SMTP face can word each with its own code (`mta.replies.reply_for`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import UserError
from core.registry import Hook


class CredentialsRefused(UserError):
    """The username and password do not sign anyone in; the message says why."""


class TooManyAttempts(UserError):
    """Signing in is refused for a while, whatever the credentials."""


class SenderRefused(UserError):
    """A signed-in sender used an address that is not one of their confirmed ones."""


@dataclass(frozen=True)
class Submitter:
    """Someone signed in on the submission port, as they were when they signed in."""

    username: str
    addresses: tuple[str, ...]  # the addresses they may send as, the primary first

    def check_sender(self, address: str, where: str) -> None:
        """SenderRefused unless `address` (the envelope sender or the From, named by
        `where`) is one of their addresses; the refusal lists the ones they may use."""
        if address.strip().lower() in (a.lower() for a in self.addresses):
            return
        allowed = ", ".join(self.addresses) or "none: confirm an address on /account first"
        shown = f"<{address}>" if address else "(empty)"
        raise SenderRefused(
            f"{where} {shown} is not an address of ~{self.username}; you may send as: {allowed}"
        )


# (session, login, password, client IP) -> the Submitter, or CredentialsRefused or
# TooManyAttempts; the caller commits either way, so that the attempt counts.
Authenticate = Callable[[Session, str, str, str], Submitter]
AUTHENTICATE: Hook[Authenticate] = Hook("submission-authenticate")
