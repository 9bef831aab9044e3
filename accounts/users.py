"""Accounts and their addresses: sign-up, confirmation, the operator's `user create`,
extra addresses, the primary address, admins.

An account can do nothing until its sign-up address is confirmed (the link mailed to it,
`accounts.mail`), and an address counts as the user's (mail from it acts as
them, `accounts.access.actor_for_address`) only once confirmed. A confirmed address
belongs to one account: the database refuses a second (a partial unique index), so two
people confirming one address at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from accounts.access import user_for_address
from accounts.models import User, UserAddress
from accounts.names import validate_owner_name
from accounts.passwords import hash_password, validate_password
from core.db import utcnow
from core.errors import UserError
from mail.addresses import normalize_address as _normalized

MAX_ADDRESSES = 20  # per account, confirmed or not
# An account never confirmed gives its name back after this long (the link is dead by then).
UNCONFIRMED_KEEPS_NAME = timedelta(days=2)


class AccountError(UserError):
    """Something about an account that cannot be done; the message says why."""


@dataclass(frozen=True)
class SignUp:
    """What a sign-up did: made `user` (unconfirmed) with `address` to confirm, or found
    the address already confirmed by `existing` and made nothing."""

    address: str
    user: User | None = None
    pending: UserAddress | None = None
    existing: User | None = None


def normalize_address(address: str) -> str:
    """The address as email-validator normalizes it (the domain lower-cased, IDNA);
    AccountError when it is none."""
    return _normalized(address, AccountError)


def find_user(session: Session, username: str) -> User | None:
    """The user called `username` (a leading '~' is allowed)."""
    name = username.strip().lstrip("~").lower()
    return session.scalar(select(User).where(func.lower(User.username) == name))


def find_user_for_login(session: Session, login: str) -> User | None:
    """The user a sign-in form names: by username, or by one of their confirmed addresses."""
    login = login.strip()
    if "@" in login:
        return user_for_address(session, login)
    return find_user(session, login)


def sign_up(session: Session, username: str, address: str, password: str) -> SignUp:
    """A new, unconfirmed account for `username` with `address` to confirm (the caller
    mails the link and commits). When the address already belongs to an account, nothing
    is made: the caller tells that address's owner instead of telling the person signing
    up, who may not own it."""
    _release_stale_name(session, username)
    name = validate_owner_name(session, username)
    address = normalize_address(address)
    validate_password(password)
    existing = user_for_address(session, address)
    if existing is not None:
        return SignUp(address=address, existing=existing)
    user = User(username=name, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    pending = _new_address(session, user, address, primary=True)
    return SignUp(address=address, user=user, pending=pending)


def create_user(
    session: Session,
    username: str,
    address: str,
    *,
    password: str | None = None,
    is_admin: bool = False,
) -> User:
    """An account confirmed at once, for the operator who vouches for the address."""
    name = validate_owner_name(session, username)
    address = normalize_address(address)
    other = user_for_address(session, address)
    if other is not None:
        raise AccountError(f"{address} is already an address of ~{other.username}")
    now = utcnow()
    user = User(
        username=name,
        password_hash=hash_password(validate_password(password)) if password is not None else "",
        is_admin=is_admin,
        confirmed_at=now,
    )
    session.add(user)
    session.flush()
    _new_address(session, user, address, primary=True).confirmed_at = now
    session.flush()
    return user


def confirm_sign_up(session: Session, user_id: int, address_id: int) -> User:
    """Confirm the account and its sign-up address (from the mailed link); idempotent."""
    user = session.get(User, user_id)
    row = session.get(UserAddress, address_id)
    if user is None or row is None or row.user_id != user.id:
        raise AccountError("this link is for an account that no longer exists; sign up again")
    if user.confirmed_at is not None:
        return user
    _refuse_if_taken(session, user, row.address)
    user.confirmed_at = row.confirmed_at = utcnow()
    row.is_primary = True
    session.flush()
    return user


def add_address(session: Session, user: User, address: str) -> UserAddress:
    """An address for `user` to confirm (the caller mails the link); the same row again
    when it is waiting for confirmation already."""
    address = normalize_address(address)
    row = _address_row(session, user, address)
    if row is not None:
        if row.confirmed_at is not None:
            raise AccountError(f"{address} is already one of your addresses")
        return row
    count = session.scalar(select(func.count()).where(UserAddress.user_id == user.id)) or 0
    if count >= MAX_ADDRESSES:
        raise AccountError(f"an account has at most {MAX_ADDRESSES} addresses; remove one first")
    return _new_address(session, user, address, primary=False)


def confirm_address(
    session: Session, user_id: int, address_id: int, address_key: str
) -> UserAddress:
    """Confirm an added address (from the mailed link); idempotent."""
    row = session.get(UserAddress, address_id)
    if row is None or row.user_id != user_id or row.address_key != address_key:
        raise AccountError("this address was removed from the account since; add it again")
    if row.confirmed_at is not None:
        return row
    user = session.get(User, user_id)
    assert user is not None  # the address row is the user's (deleting a user deletes it)
    _refuse_if_taken(session, user, row.address)
    row.confirmed_at = utcnow()
    if primary_address_of(session, user) is None:
        row.is_primary = True
    session.flush()
    return row


def set_primary(session: Session, user: User, address_id: int) -> UserAddress:
    """Make a confirmed address the one mail to the user goes to."""
    row = _own_address(session, user, address_id)
    if row.confirmed_at is None:
        raise AccountError(f"confirm {row.address} before making it your primary address")
    for other in addresses_of(session, user):
        other.is_primary = other.id == row.id
    session.flush()
    return row


def remove_address(session: Session, user: User, address_id: int) -> str:
    """Remove an address, never the last confirmed one (an account needs somewhere to
    send a password reset). The address removed."""
    row = _own_address(session, user, address_id)
    confirmed = [a for a in addresses_of(session, user) if a.confirmed_at is not None]
    if row.confirmed_at is not None and len(confirmed) == 1:
        raise AccountError(f"{row.address} is your only confirmed address; add another first")
    session.delete(row)
    session.flush()
    if row.is_primary:
        rest = [a for a in confirmed if a.id != row.id]
        if rest:
            rest[0].is_primary = True
            session.flush()
    return row.address


def addresses_of(session: Session, user: User) -> list[UserAddress]:
    """The primary address first, then confirmed ones, then those waiting, oldest first."""
    return list(
        session.scalars(
            select(UserAddress)
            .where(UserAddress.user_id == user.id)
            .order_by(
                UserAddress.is_primary.desc(),
                UserAddress.confirmed_at.is_(None),
                UserAddress.id,
            )
        )
    )


def confirmed_address(session: Session, address: str) -> UserAddress | None:
    """The confirmed address row for `address`, whatever its case, if any account has it."""
    return session.scalar(
        select(UserAddress).where(
            UserAddress.address_key == address.strip().lower(),
            UserAddress.confirmed_at.isnot(None),
        )
    )


def signup_address_of(session: Session, user: User) -> UserAddress | None:
    """The address an unconfirmed account signed up with (its primary one)."""
    rows = addresses_of(session, user)
    return rows[0] if rows else None


def primary_address_of(session: Session, user: User) -> str | None:
    """The primary confirmed address (the first confirmed one if none is marked)."""
    row = session.scalars(
        select(UserAddress)
        .where(UserAddress.user_id == user.id, UserAddress.confirmed_at.isnot(None))
        .order_by(UserAddress.is_primary.desc(), UserAddress.id)
    ).first()
    return row.address if row is not None else None


def usernames_by_id(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """{user id: username} for these users."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {user_id: username for user_id, username in rows}


def list_users(session: Session) -> list[tuple[User, str | None]]:
    """Every account by username, with its primary address."""
    users = list(session.scalars(select(User).order_by(User.username)))
    rows = session.scalars(
        select(UserAddress)
        .where(UserAddress.confirmed_at.isnot(None))
        .order_by(UserAddress.is_primary.desc(), UserAddress.id)
    )
    primary: dict[int, str] = {}
    for row in rows:
        primary.setdefault(row.user_id, row.address)
    return [(user, primary.get(user.id)) for user in users]


def set_admin(session: Session, username: str, admin: bool) -> User:
    user = find_user(session, username)
    if user is None:
        raise AccountError(f"no user named {username.strip()!r}")
    user.is_admin = admin
    session.flush()
    return user


def _new_address(session: Session, user: User, address: str, *, primary: bool) -> UserAddress:
    row = UserAddress(
        user_id=user.id, address=address, address_key=address.lower(), is_primary=primary
    )
    session.add(row)
    session.flush()
    return row


def _address_row(session: Session, user: User, address: str) -> UserAddress | None:
    return session.scalar(
        select(UserAddress).where(
            UserAddress.user_id == user.id, UserAddress.address_key == address.lower()
        )
    )


def _own_address(session: Session, user: User, address_id: int) -> UserAddress:
    row = session.get(UserAddress, address_id)
    if row is None or row.user_id != user.id:
        raise AccountError("no such address on your account")
    return row


def _refuse_if_taken(session: Session, user: User | None, address: str) -> None:
    other = user_for_address(session, address)
    if other is not None and (user is None or other.id != user.id):
        raise AccountError(f"{address} was confirmed by another account meanwhile")


def _release_stale_name(session: Session, username: str) -> None:
    """Forget an account that was never confirmed and whose link has expired, so that
    a sign-up nobody finished does not hold a name forever."""
    name = username.strip().lower()
    session.execute(
        delete(User)
        .where(func.lower(User.username) == name)
        .where(User.confirmed_at.is_(None))
        .where(User.created_at < utcnow() - UNCONFIRMED_KEEPS_NAME)
    )
