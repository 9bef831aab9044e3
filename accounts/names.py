"""The ~NAME namespace: usernames and group names share it, as on SourceHut, so that
/~NAME always means one owner."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Group, User
from core.errors import UserError

OWNER_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
# Names people would mistake for the site's own.
RESERVED = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "postmaster",
        "abuse",
        "support",
        "security",
        "staff",
        "mailyard",
        "system",
        "nobody",
        "www",
        "api",
        "help",
        "account",
        "login",
        "signup",
    }
)


class NameRefused(UserError):
    """A username or group name that cannot be used; the message says why."""


def validate_owner_name(session: Session, name: str) -> str:
    """`name`, lower-cased, if it is well formed and no user or group has it."""
    name = name.strip().lower()
    if not OWNER_NAME.match(name):
        raise NameRefused(f"invalid name {name!r}: use 2-32 of a-z 0-9 _ -, starting with a letter")
    if name in RESERVED:
        raise NameRefused(f"the name {name!r} is reserved")
    if owner_exists(session, name):
        raise NameRefused(f"the name {name!r} is taken")
    return name


def owner_exists(session: Session, name: str) -> bool:
    name = name.strip().lower()
    user = session.scalar(select(User.id).where(func.lower(User.username) == name))
    group = session.scalar(select(Group.id).where(func.lower(Group.name) == name))
    return user is not None or group is not None
