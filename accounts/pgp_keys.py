"""The OpenPGP keys registered for an address: the keys whose signature authenticates
mail from that address (DESIGN: "a PGP signature from a key the user registered").

Operators register keys per address (`mail.keys`, `mailyard key add`); users upload their
own (`add_user_pgp_key`, served at /~USER.pgp), which must name one of their confirmed
addresses in a user ID and count for the confirmed addresses they name: a key naming none
could never authenticate their mail, and would only let someone claim a key not theirs.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.access import user_for_address
from accounts.models import User, UserAddress, UserPgpKey
from mail.keys import KeyRefused, operator_keys
from mail.pgp import PUBLIC_BLOCK, PgpError, inspect_key


def registered_pgp_keys(session: Session, address: str) -> list[str]:
    """The armored public keys registered for `address`: by an operator for the address
    (`mailyard key add`), or uploaded by the user who confirmed it, when the key's user
    IDs name it."""
    if not address:
        return []
    key = address.strip().lower()
    armored = operator_keys(session, key)
    user = user_for_address(session, key)
    if user is not None:
        uploaded = session.scalars(select(UserPgpKey).where(UserPgpKey.user_id == user.id))
        armored += [k.armored for k in uploaded if key in (k.emails or [])]
    return armored


# --- keys users upload to their account ------------------------------------------------

MAX_USER_KEYS = 50  # OpenPGP keys per account
MAX_PGP_KEY_LENGTH = 512 * 1024
PUBLIC_BLOCK_END = "-----END PGP PUBLIC KEY BLOCK-----"


def add_user_pgp_key(session: Session, user: User, armored: str) -> UserPgpKey:
    """Add an armored public key to `user` (the caller commits) when gpg accepts it and
    one of its user IDs names one of the user's confirmed addresses."""
    if len(armored) > MAX_PGP_KEY_LENGTH:
        raise KeyRefused(
            "this key block is too large; export it without other people's signatures"
            " (gpg --armor --export-options export-minimal --export YOUR-ADDRESS)"
        )
    try:
        info = inspect_key(armored)
    except PgpError as e:
        raise KeyRefused(str(e)) from None
    confirmed = _confirmed_addresses(session, user)
    if not any(email in confirmed for email in info.emails):
        named = ", ".join(info.emails) if info.emails else "no email address"
        raise KeyRefused(
            f"the key {info.fingerprint} names {named} in its user IDs, and none of that is"
            f" a confirmed address of your account ({', '.join(sorted(confirmed))}); add and"
            " confirm the address first, or add a user ID with your address to the key"
        )
    if any(k.fingerprint == info.fingerprint for k in pgp_keys_of(session, user)):
        raise KeyRefused(f"you added the key {info.fingerprint} already")
    if len(pgp_keys_of(session, user)) >= MAX_USER_KEYS:
        raise KeyRefused(f"an account has at most {MAX_USER_KEYS} OpenPGP keys; remove one first")
    row = UserPgpKey(
        user_id=user.id,
        fingerprint=info.fingerprint,
        armored=_armored_block(armored),
        emails=list(info.emails),
    )
    session.add(row)
    session.flush()
    return row


def pgp_keys_of(session: Session, user: User) -> list[UserPgpKey]:
    return list(
        session.scalars(
            select(UserPgpKey).where(UserPgpKey.user_id == user.id).order_by(UserPgpKey.id)
        )
    )


def remove_pgp_key(session: Session, user: User, key_id: int) -> str:
    """Remove one of the user's OpenPGP keys; its fingerprint."""
    row = session.get(UserPgpKey, key_id)
    if row is None or row.user_id != user.id:
        raise KeyRefused("no such OpenPGP key on your account")
    session.delete(row)
    session.flush()
    return row.fingerprint


def armored_keys_text(session: Session, user: User) -> str:
    """The user's OpenPGP public keys, armored, one after another (what /~USER.pgp serves;
    `gpg --import` reads them all)."""
    return "\n".join(row.armored for row in pgp_keys_of(session, user))


def _armored_block(text: str) -> str:
    """The armored block alone, without whatever was pasted around it."""
    start = text.find(PUBLIC_BLOCK)
    end = text.rfind(PUBLIC_BLOCK_END)
    if start < 0 or end < start:
        return text.strip() + "\n"
    return text[start : end + len(PUBLIC_BLOCK_END)].replace("\r\n", "\n") + "\n"


def _confirmed_addresses(session: Session, user: User) -> set[str]:
    return set(
        session.scalars(
            select(UserAddress.address_key).where(
                UserAddress.user_id == user.id, UserAddress.confirmed_at.isnot(None)
            )
        )
    )
