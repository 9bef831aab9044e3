"""Making a list and changing its settings and access entries, for the CLI and the web.

Who may make these changes is the caller's question (`lists.access.may_manage`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.access import parse_rights, parse_visibility, remove_entry, set_entry
from accounts.models import Group, User
from archive.lists import get_list
from archive.models import MailingList
from core.errors import UserError
from lists.access import LIST_RIGHTS, ListEntry, format_list_rights, list_scope
from lists.hooks import NAME_TAKEN

# Whose posts wait for a moderator (the mail path, `mta`, applies it): nobody's, those
# of addresses not subscribed, or everyone's.
MODERATION_MODES = ("none", "unsubscribed", "all")
MODERATION_DAYS_MAX = 365  # held mail expires after at most this many days

# Lower case so that the posting address is case-insensitive; '+' is reserved for
# sub-addresses (NAME+subscribe@...), '.' '-' '_' as in SourceHut list names.
LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ListError(UserError):
    """A list operation cannot be done; the message says why, for a person."""


def create_list(
    session: Session, name: str, owner_email: str, description: str = ""
) -> MailingList:
    """Create a list; the name becomes its posting address NAME@DOMAIN and its URL /NAME/."""
    name, owner = checked_name_and_owner(name, owner_email, what="list")
    if get_list(session, name) is not None:
        raise ListError(f"list {name!r} already exists")
    if any(taken(session, name) for taken in NAME_TAKEN):
        raise ListError(f"{name!r} is taken: a tracker has that address")
    mlist = MailingList(name=name, owner_email=owner, description=description.strip())
    session.add(mlist)
    session.flush()
    return mlist


def checked_name_and_owner(
    name: str, owner_email: str, *, what: str, error: type[ValueError] = ListError
) -> tuple[str, str]:
    """(name, owner) normalized for a list or anything else at NAME@DOMAIN (a tracker),
    or `error` saying what is wrong with them."""
    name = name.strip().lower()
    if not LIST_NAME.match(name) or name in RESERVED_NAMES:
        raise error(
            f"invalid {what} name {name!r}: use 1-64 of a-z 0-9 . _ - (not starting with"
            f" . _ -), and none of {', '.join(sorted(RESERVED_NAMES))}"
        )
    try:
        owner = validate_email(owner_email, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise error(f"invalid owner address {owner_email!r}: {e}") from None
    return name, owner


# Names that would shadow web routes or special addresses.
RESERVED_NAMES = frozenset(
    {
        "all",
        "static",
        "api",
        "new.atom",
        "postmaster",
        "abuse",
        "login",
        "logout",
        "trackers",
        # account pages (web.accounts, web.groups)
        "account",
        "signup",
        "groups",
        "projects",
    }
)


# A default for "leave the owning group as it is", since None means "no group".
UNCHANGED = object()


def change_list_settings(
    session: Session,
    mlist: MailingList,
    *,
    visibility: str | None = None,
    default_rights: str | Iterable[str] | None = None,
    moderation: str | None = None,
    moderation_days: int | None = None,
    owner_group: Group | None | object = UNCHANGED,
) -> MailingList:
    """Change who may see and use the list (None, or UNCHANGED for the group, leaves a
    setting as it is); ListError says what is wrong with a value. The caller commits.
    Who may change them is the caller's question (`lists.access.may_manage`)."""
    if visibility is not None:
        try:
            mlist.visibility = parse_visibility(visibility).value
        except ValueError as e:
            raise ListError(str(e)) from None
    if default_rights is not None:
        mlist.default_rights = format_list_rights(parse_list_rights(default_rights))
    if moderation is not None:
        moderation = moderation.strip().lower()
        if moderation not in MODERATION_MODES:
            valid = ", ".join(MODERATION_MODES)
            raise ListError(f"unknown moderation {moderation!r}; valid: {valid}")
        mlist.moderation = moderation
    if moderation_days is not None:
        if not 1 <= moderation_days <= MODERATION_DAYS_MAX:
            raise ListError(f"moderation days must be 1 to {MODERATION_DAYS_MAX}")
        mlist.moderation_days = moderation_days
    if owner_group is not UNCHANGED:
        mlist.owner_group_id = owner_group.id if isinstance(owner_group, Group) else None
    session.flush()
    return mlist


def find_group(session: Session, name: str) -> Group:
    """The group called `name` ('~name' works too); ListError when there is none."""
    key = name.strip().removeprefix("~").lower()
    group = session.scalar(select(Group).where(func.lower(Group.name) == key))
    if group is None:
        raise ListError(f"no group named {name.strip()!r}")
    return group


# -- access entries -----------------------------------------------------------------------


def parse_list_rights(text: str | Iterable[str]) -> frozenset[str]:
    """'browse, post' -> {'browse', 'post'}; ListError naming an unknown right."""
    try:
        return parse_rights(text, LIST_RIGHTS)
    except ValueError as e:
        raise ListError(str(e)) from None


def grant_list_access(
    session: Session, mlist: MailingList, who: str, rights: str | Iterable[str]
) -> ListEntry:
    """Give `who` ('~username' or an address) exactly `rights` on the list, replacing
    what the defaults give them; no rights shuts them out. The caller commits."""
    chosen = parse_list_rights(rights)
    user, address = _resolve_who(session, who)
    kwargs = {"user_id": user.id} if user is not None else {"address": address}
    set_entry(session, list_scope(mlist.id), chosen, **kwargs)
    named = f"~{user.username}" if user is not None else address
    assert named is not None  # _resolve_who gives a user or an address
    return ListEntry(named, tuple(r for r in LIST_RIGHTS if r in chosen))


def revoke_list_access(session: Session, mlist: MailingList, who: str) -> bool:
    """Remove `who`'s entry, so the defaults apply to them again; False when they had
    none. The caller commits."""
    user, address = _resolve_who(session, who)
    kwargs = {"user_id": user.id} if user is not None else {"address": address}
    return remove_entry(session, list_scope(mlist.id), **kwargs)


def _resolve_who(session: Session, who: str) -> tuple[User | None, str | None]:
    """(user, None) for '~username', (None, address) for an address; ListError else."""
    who = who.strip()
    if who.startswith("~"):
        name = who[1:].lower()
        user = session.scalar(select(User).where(func.lower(User.username) == name))
        if user is not None:
            return user, None
        if session.scalar(select(Group.id).where(func.lower(Group.name) == name)) is not None:
            raise ListError(
                f"{who} is a group: make it the list's owning group instead (its members"
                " get the member rights)"
            )
        raise ListError(f"no user named {who}")
    try:
        address = validate_email(who, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise ListError(f"{who!r} is neither ~username nor an address: {e}") from None
    return None, address.lower()
