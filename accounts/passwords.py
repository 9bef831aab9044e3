"""Passwords: argon2id hashes (argon2-cffi), checked in constant time, upgraded in place.

Only the hash is stored. When the hasher's parameters change (a new argon2-cffi default,
or a stronger setting here), a successful sign-in rehashes the password with the new
parameters, so stored hashes follow the code without anyone resetting their password.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from accounts.models import User
from core.errors import UserError

HASHER = PasswordHasher()  # argon2id with argon2-cffi's RFC 9106 low-memory profile
MIN_LENGTH = 10
# Hashing takes a fixed time whatever the length, but a megabyte of "password" is not one.
MAX_LENGTH = 1024


@cache
def _nobody(hasher: PasswordHasher) -> str:
    """Checked when nobody has the name typed, so that a sign-in takes as long for an
    unknown name as for a known one (no telling which names exist by timing). Made on
    first use: a hash costs what every `mailyard` command would otherwise pay at start."""
    return hasher.hash("not anybody's password")


class PasswordRefused(UserError):
    """A new password that cannot be used; the message says why."""


def validate_password(password: str) -> str:
    """`password` if it is acceptable as a new password."""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(f"use a password of at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(f"use a password of at most {MAX_LENGTH} characters")
    if not password.strip():
        raise PasswordRefused("a password cannot be only spaces")
    return password


def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    return hasher.hash(password)


def set_password(user: User, password: str) -> None:
    """Check and store a new password for `user`; the caller commits."""
    user.password_hash = hash_password(validate_password(password))


def check_password(user: User | None, password: str, hasher: PasswordHasher = HASHER) -> bool:
    """Whether `password` is `user`'s. A match hashed with older parameters is rehashed
    with the current ones (the caller commits). Always spends one hash's time."""
    if user is None or not user.password_hash or len(password) > MAX_LENGTH:
        _spend_a_hash(hasher, password[:MAX_LENGTH])
        return False
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):  # a mismatch, or a damaged hash
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


def _spend_a_hash(hasher: PasswordHasher, password: str) -> None:
    """Take as long as checking a real password, so that a name nobody has is not
    refused faster (which would tell who has an account)."""
    try:
        hasher.verify(_nobody(hasher), password)
    except VerificationError:
        pass


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password when `current` is the user's present one (an account made
    without a password, by `mailyard user create`, has none to give)."""
    if user.password_hash and not check_password(user, current):
        raise PasswordRefused("the current password is not right")
    set_password(user, new)
