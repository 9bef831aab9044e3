"""The rights on a hosted repository (`accounts.access` holds the rule), and the
settings that decide them: visibility, default rights, owning group, access entries.

read: see it on the web, clone and fetch; write: push; admin: its settings, deleting it,
downloading it as a bundle. A private repository does not exist for someone without
`read`: every page, the smart HTTP endpoints and SSH answer as for a name nobody has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from accounts.access import (
    Actor,
    Resource,
    entries_of,
    format_rights,
    parse_rights,
    parse_visibility,
    remove_entry,
    rights_on,
    set_entry,
)
from accounts.groups import get_group
from accounts.models import AccessEntry, User
from accounts.users import find_user
from core.errors import UserError
from repos.models import Repository


class RepoRight(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


REPO_RIGHTS = tuple(RepoRight)
# A member of the owning group pushes (the group's maintainers and owners have them all).
MEMBER_RIGHTS = frozenset({RepoRight.read, RepoRight.write})
DEFAULT_RIGHTS = "read"


class RepoAccessError(UserError):
    """A repository access setting cannot be made; the message says why, for a person."""


def repo_scope(repository: Repository) -> str:
    return f"repo:{repository.id}"


def repo_resource(repository: Repository) -> Resource:
    return Resource(
        scope=repo_scope(repository),
        owner_email="",
        owner_group_id=repository.owner_group_id,
        owner_user_id=repository.owner_user_id,
        visibility=repository.visibility,
        default_rights=parse_rights(repository.default_rights, REPO_RIGHTS),
        all_rights=frozenset(REPO_RIGHTS),
        member_rights=MEMBER_RIGHTS,
    )


def repo_rights(session: Session, repository: Repository, actor: Actor) -> frozenset[str]:
    return rights_on(session, repo_resource(repository), actor)


def may(session: Session, repository: Repository, actor: Actor, right: RepoRight) -> bool:
    return right in repo_rights(session, repository, actor)


# -- settings ----------------------------------------------------------------------------


def set_visibility(repository: Repository, visibility: str) -> None:
    try:
        repository.visibility = parse_visibility(visibility).value
    except ValueError as e:
        raise RepoAccessError(str(e)) from None


def set_default_rights(repository: Repository, rights: str | Iterable[str]) -> frozenset[str]:
    chosen = _rights(rights)
    repository.default_rights = format_rights(chosen, REPO_RIGHTS)
    return chosen


def set_access(
    session: Session,
    repository: Repository,
    rights: str | Iterable[str],
    *,
    user_id: int | None = None,
    address: str | None = None,
) -> frozenset[str]:
    """Exactly `rights` for a user or an address, in place of the defaults."""
    chosen = _rights(rights)
    if address is not None and "@" not in address.strip().strip("@"):
        raise RepoAccessError(f"{address!r} is not an address")
    set_entry(session, repo_scope(repository), chosen, user_id=user_id, address=address)
    return chosen


def remove_access(
    session: Session,
    repository: Repository,
    *,
    user_id: int | None = None,
    address: str | None = None,
) -> bool:
    return remove_entry(session, repo_scope(repository), user_id=user_id, address=address)


@dataclass(frozen=True)
class Grant:
    """An access entry as it was set: who ('~username' or an address) and the rights."""

    who: str
    rights: tuple[str, ...]


def grant_access(
    session: Session, repository: Repository, who: str, rights: str | Iterable[str]
) -> Grant:
    """Give `who` (a username, '~username' or an address) exactly `rights`, in place of
    the defaults; no rights shut them out."""
    user, address = resolve_who(session, who)
    chosen = (
        set_access(session, repository, rights, user_id=user.id)
        if user is not None
        else set_access(session, repository, rights, address=address)
    )
    named = f"~{user.username}" if user is not None else str(address)
    return Grant(named, tuple(r.value for r in REPO_RIGHTS if r in chosen))


def revoke_access(session: Session, repository: Repository, who: str) -> bool:
    """Remove `who`'s entry (the defaults apply to them again); False when there was none."""
    user, address = resolve_who(session, who)
    if user is not None:
        return remove_access(session, repository, user_id=user.id)
    return remove_access(session, repository, address=address)


def resolve_who(session: Session, who: str) -> tuple[User | None, str | None]:
    """(user, None) for 'name' or '~name', (None, address) for an address."""
    who = who.strip()
    if "@" in who:
        try:
            return None, validate_email(who, check_deliverability=False).normalized.lower()
        except EmailNotValidError as e:
            raise RepoAccessError(f"{who!r} is not an address: {e}") from None
    user = find_user(session, who) if who.lstrip("~") else None
    if user is not None:
        return user, None
    if who.lstrip("~") and get_group(session, who) is not None:
        raise RepoAccessError(
            f"~{who.lstrip('~').lower()} is a group: make it the owning group instead (its"
            " members may push)"
        )
    raise RepoAccessError(f"no user named ~{who.lstrip('~') or '(nobody)'}")


def access_entries(session: Session, repository: Repository) -> list[AccessEntry]:
    return entries_of(session, repo_scope(repository))


def _rights(rights: str | Iterable[str]) -> frozenset[str]:
    try:
        return parse_rights(rights, REPO_RIGHTS)
    except ValueError as e:
        raise RepoAccessError(str(e)) from None
