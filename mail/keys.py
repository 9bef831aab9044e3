"""OpenPGP keys an operator registers for an address (`mailyard key add`): keys whose
signature authenticates mail from that address, whether or not it has an account.

The keys users upload to their own account are `accounts.pgp_keys`, which also gives the
one answer "which keys count for this address" (both kinds together).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import UserError
from mail.models import PgpKey
from mail.pgp import PgpError, inspect_key


class KeyRefused(UserError):
    """A key that cannot be registered; the message says why."""


def add_pgp_key(session: Session, address: str, armored: str) -> PgpKey:
    """Register `armored` (a public key block) for `address`, whose user IDs must name
    that address: a key says whose it is, and a key for someone else proves nothing."""
    try:
        info = inspect_key(armored)
    except PgpError as error:
        raise KeyRefused(str(error)) from None
    if address.lower() not in info.emails:
        names = ", ".join(info.uids) or "no user IDs"
        raise KeyRefused(f"key {info.fingerprint} is not for {address} (it names {names})")
    existing = session.scalars(
        select(PgpKey).where(
            func.lower(PgpKey.address) == address.lower(), PgpKey.fingerprint == info.fingerprint
        )
    ).first()
    if existing is not None:
        existing.armored = armored
        return existing
    key = PgpKey(address=address.lower(), fingerprint=info.fingerprint, armored=armored)
    session.add(key)
    return key


def operator_keys(session: Session, address: str) -> list[str]:
    """The armored keys an operator registered for `address` (lower-cased)."""
    return list(
        session.scalars(select(PgpKey.armored).where(func.lower(PgpKey.address) == address))
    )


def registered_key_rows(session: Session, address: str) -> list[PgpKey]:
    return list(
        session.scalars(
            select(PgpKey).where(func.lower(PgpKey.address) == address.lower()).order_by(PgpKey.id)
        )
    )
