"""The rights on a hosted repository (`accounts.access` holds the rule), and the
settings that decide them: visibility, default rights, owning group, access entries.

read: see it on the web, clone and fetch; write: push; admin: its settings, deleting it,
downloading it as a bundle. A private repository does not exist for someone without
`read`: every page, the smart HTTP endpoints and SSH answer as for a name nobody has.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy.orm import Session

from accounts.access import (
    VISIBILITIES,
    Actor,
    Resource,
    format_rights,
    parse_rights,
    remove_entry,
    rights_on,
    set_entry,
)
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
    visibility = visibility.strip().lower()
    if visibility not in VISIBILITIES:
        raise RepoAccessError(
            f"unknown visibility {visibility!r}; use one of: {', '.join(VISIBILITIES)}"
        )
    repository.visibility = visibility


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


def _rights(rights: str | Iterable[str]) -> frozenset[str]:
    try:
        return parse_rights(rights, REPO_RIGHTS)
    except ValueError as e:
        raise RepoAccessError(str(e)) from None
