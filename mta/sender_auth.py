"""Is the From address of a mail authenticated? The one answer every action by mail asks
(DESIGN: a DKIM signature that passes and is aligned with the From domain, or a PGP
signature by a key registered for the address).

With accounts, "authenticated as user U" means: the From address is one of U's confirmed
addresses, and the mail proves it by DKIM or by a PGP signature from one of U's keys that
names that address (`authenticated_user`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailyard.accounts.access import user_for_address
from mailyard.accounts.models import User
from mta.keys import registered_pgp_keys
from mta.pgp import verify_signature


def sender_authenticated(
    session: Session, address: str, raw: bytes, *, dkim_aligned_pass: bool
) -> str | None:
    """'dkim' or 'pgp' when `address` is authenticated by the mail `raw`, else None.

    With 'pgp' only the signed text is vouched for, never the headers: callers that act
    on a header must not trust it then.
    """
    if dkim_aligned_pass:
        return "dkim"
    keys = registered_pgp_keys(session, address) if address else []
    if keys and verify_signature(raw, keys):
        return "pgp"
    return None


def authenticated_user(
    session: Session, address: str, raw: bytes, *, dkim_aligned_pass: bool
) -> User | None:
    """The user this mail is authenticated as: the owner of the confirmed From address,
    when `sender_authenticated` vouches for it. None otherwise."""
    user = user_for_address(session, address)
    if user is None:
        return None
    if sender_authenticated(session, address, raw, dkim_aligned_pass=dkim_aligned_pass) is None:
        return None
    return user
