"""The OpenPGP keys registered for an address: the keys whose signature authenticates
mail from that address (DESIGN: "a PGP signature from a key the user registered").

Operators register keys per address (`mailyard key add`); users upload their own
(`mailyard.accounts.keys`), which count for the confirmed addresses their user IDs name.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailyard.accounts.access import user_for_address
from mailyard.accounts.models import UserPgpKey
from mta.models import PgpKey
from mta.pgp import PgpError, inspect_key


class KeyRefused(Exception):
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


def registered_pgp_keys(session: Session, address: str) -> list[str]:
    """The armored public keys registered for `address`: by an operator for the address
    (`mailyard key add`), or uploaded by the user who confirmed it, when the key's user
    IDs name it."""
    if not address:
        return []
    key = address.strip().lower()
    armored = list(session.scalars(select(PgpKey.armored).where(func.lower(PgpKey.address) == key)))
    user = user_for_address(session, key)
    if user is not None:
        uploaded = session.scalars(select(UserPgpKey).where(UserPgpKey.user_id == user.id))
        armored += [k.armored for k in uploaded if key in (k.emails or [])]
    return armored


def registered_key_rows(session: Session, address: str) -> list[PgpKey]:
    return list(
        session.scalars(
            select(PgpKey).where(func.lower(PgpKey.address) == address.lower()).order_by(PgpKey.id)
        )
    )
