"""Hosted repositories: making, finding, listing, changing and removing them.

A repository is ~OWNER/NAME, OWNER a user or a group; its bare git directory is made
with pygit2 under the repositories root (`repos.storage`). Names are lower-cased and
shared with the owner's projects: both are pages at /~OWNER/NAME.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pygit2
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.access import Actor, Visibility, remove_entries
from accounts.models import Group, User
from accounts.projects import Owner, find_owner, get_project, owner_name_of, remove_links_to
from core.errors import UserError
from core.settings import Settings
from repos import storage
from repos.access import (
    DEFAULT_RIGHTS,
    RepoRight,
    repo_resource,
    repo_rights,
    repo_scope,
    set_default_rights,
    set_visibility,
)
from repos.models import NAME_MAX, Repository

REPO_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Pages below /~OWNER/ that a repository must not shadow (as for projects).
RESERVED_NAMES = frozenset({"members", "settings", "projects", "groups", "repos"})
DESCRIPTION_MAX = 2000
BRANCH_NAME_MAX = 255


class RepoError(UserError):
    """A repository operation cannot be done; the message says why, for a person."""


def parse_repo_path(text: str) -> tuple[str, str]:
    """'~OWNER/NAME' or 'OWNER/NAME', with or without '.git' -> ('owner', 'name')."""
    owner, slash, name = text.strip().lstrip("~").partition("/")
    name = name.removesuffix("/").removesuffix(".git")
    if not slash or not owner or not name or "/" in name:
        raise RepoError(f"{text!r} is not a repository: write ~OWNER/NAME")
    return owner.lower(), name.lower()


def check_name(name: str) -> str:
    name = name.strip().lower()
    if (
        not REPO_NAME.match(name)
        or len(name) > NAME_MAX
        or name.endswith((".git", ".lock"))
        or ".." in name
        or name in RESERVED_NAMES
    ):
        raise RepoError(
            f"invalid repository name {name!r}: use 1-{NAME_MAX} of a-z 0-9 . _ -, starting"
            " with a letter or digit, not ending in .git or .lock, without '..', and none"
            f" of {', '.join(sorted(RESERVED_NAMES))}"
        )
    return name


def check_branch_name(branch: str) -> str:
    branch = branch.strip().removeprefix("refs/heads/")
    if (
        not branch
        or len(branch) > BRANCH_NAME_MAX
        or not pygit2.reference_is_valid_name(f"refs/heads/{branch}")
    ):
        raise RepoError(f"{branch!r} is not a valid branch name")
    return branch


def create_repository(
    session: Session,
    settings: Settings,
    owner: Owner,
    name: str,
    *,
    description: str = "",
    visibility: str = Visibility.public,
    default_branch: str = "main",
) -> Repository:
    """Make ~OWNER/NAME: its row and its bare directory. The caller commits inside
    `committed_or_removed`, so that a failed commit takes the new directory along."""
    name = check_name(name)
    owner_name = owner_name_of(owner)
    if get_repository(session, owner_name, name) is not None:
        raise RepoError(f"~{owner_name}/{name} already exists")
    if get_project(session, owner_name, name) is not None:
        raise RepoError(f"~{owner_name}/{name} is a project already; choose another name")
    path = storage.repository_path(settings, owner_name, name)
    if path.exists():
        raise RepoError(
            f"{path} exists on disk but no repository names it; an operator must move it away first"
        )
    repository = Repository(
        owner_name=owner_name,
        name=name,
        owner_user_id=owner.id if isinstance(owner, User) else None,
        owner_group_id=owner.id if isinstance(owner, Group) else None,
        description=_description(description),
        default_branch=check_branch_name(default_branch),
        default_rights=DEFAULT_RIGHTS,
    )
    set_visibility(repository, visibility)
    session.add(repository)
    session.flush()
    storage.create_bare(path, repository.default_branch)
    return repository


@contextmanager
def committed_or_removed(
    session: Session, settings: Settings, repository: Repository
) -> Iterator[None]:
    """Commit what the block does with a repository `create_repository` just made; when
    the block or the commit fails, roll back and remove the new directory (only this
    one: a refusal before it was made may be about another repository's)."""
    owner_name, name = repository.owner_name, repository.name
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        remove_directory(settings, owner_name, name)
        raise


def get_repository(session: Session, owner_name: str, name: str) -> Repository | None:
    return session.scalar(
        select(Repository).where(
            Repository.owner_name == owner_name.strip().lower().lstrip("~"),
            Repository.name == name.strip().lower().removesuffix(".git"),
        )
    )


def repository_named(session: Session, text: str) -> Repository | None:
    """The repository '~OWNER/NAME' names, if any (RepoError when it names none)."""
    owner_name, name = parse_repo_path(text)
    return get_repository(session, owner_name, name)


def path_taken(session: Session, owner_name: str, name: str) -> str:
    """For `accounts.hooks.PATH_TAKEN`: a project may not take a repository's name."""
    return "a repository" if get_repository(session, owner_name, name) is not None else ""


def visible_repository(
    session: Session, actor: Actor, owner_name: str, name: str
) -> Repository | None:
    """The repository, if `actor` may read it; None when it does not exist or is private
    to them (the two must look the same)."""
    repository = get_repository(session, owner_name, name)
    if repository is None or RepoRight.read not in repo_rights(session, repository, actor):
        return None
    return repository


def repositories_of(
    session: Session, actor: Actor, owner_name: str | None = None, *, listed_only: bool = True
) -> list[Repository]:
    """The repositories `actor` may read (of one owner, or all), by owner and name;
    `listed_only` leaves out unlisted ones unless the actor has a particular relation
    (the owner's page lists what they may see)."""
    query = select(Repository).order_by(Repository.owner_name, Repository.name)
    if owner_name is not None:
        query = query.where(Repository.owner_name == owner_name.strip().lower().lstrip("~"))
    shown = []
    for repository in session.scalars(query):
        rights = repo_rights(session, repository, actor)
        if RepoRight.read not in rights:
            continue
        if (
            listed_only
            and repository.visibility != Visibility.public
            and rights == repo_resource(repository).default_rights
        ):
            continue
        shown.append(repository)
    return shown


def all_repositories(session: Session, owner_name: str | None = None) -> list[Repository]:
    """Every repository (of one owner), by owner and name: what the operator sees."""
    query = select(Repository).order_by(Repository.owner_name, Repository.name)
    if owner_name is not None:
        query = query.where(Repository.owner_name == owner_name.strip().lower().lstrip("~"))
    return list(session.scalars(query))


def update_repository(
    session: Session,
    settings: Settings,
    repository: Repository,
    *,
    description: str | None = None,
    default_branch: str | None = None,
    visibility: str | None = None,
    default_rights: str | Sequence[str] | None = None,
    owner_group: Group | None | bool = False,
) -> None:
    """Change what is given (`owner_group=None` removes the owning group of a user's
    repository; a group's own repository keeps its group). Everything is checked
    before HEAD is moved on disk, so a refusal changes nothing."""
    if description is not None:
        repository.description = _description(description)
    if visibility is not None:
        set_visibility(repository, visibility)
    if default_rights is not None:
        set_default_rights(repository, default_rights)
    if owner_group is not False:
        if repository.owner_user_id is None:
            raise RepoError(f"{repository.path_name} belongs to a group; it keeps that group")
        repository.owner_group_id = owner_group.id if isinstance(owner_group, Group) else None
    if default_branch is not None:
        branch = check_branch_name(default_branch)
        repo = pygit2.Repository(str(storage.path_of(settings, repository)))
        branches = repo.branches.local
        # An empty repository may name the branch its first push will make.
        if len(list(branches)) and branch not in branches:
            raise RepoError(
                f"{repository.path_name} has no branch {branch!r}; its branches:"
                f" {', '.join(sorted(branches)[:20])}"
            )
        repository.default_branch = branch
        repo.set_head(f"refs/heads/{branch}")
    session.flush()


def repositories_by_id(session: Session, ids: Sequence[int]) -> dict[int, Repository]:
    """{id: repository} of those that exist, in one query (a project's links)."""
    if not ids:
        return {}
    rows = session.scalars(select(Repository).where(Repository.id.in_(sorted(set(ids)))))
    return {repository.id: repository for repository in rows}


def delete_repository(session: Session, settings: Settings, repository: Repository) -> None:
    """Remove the row, its access entries and the projects' links to it (the caller
    commits), then call `remove_directory` after the commit, so a failed commit keeps
    the data. The entries and links name the repository by id, which a later
    repository may get again."""
    scope = repo_scope(repository)
    remove_entries(session, scope)
    remove_links_to(session, scope)
    session.delete(repository)
    session.flush()


def confirms_deletion(repository: Repository, typed: str) -> bool:
    """Whether what someone typed to confirm deleting names the repository: its name
    or ~owner/name."""
    typed = typed.strip().lower()
    return typed in (repository.name, repository.path_name, repository.path_name[1:])


def remove_directory(settings: Settings, owner_name: str, name: str) -> None:
    storage.remove_tree(storage.repository_path(settings, owner_name, name))


def owner_named(session: Session, name: str) -> Owner:
    owner = find_owner(session, name)
    if owner is None:
        raise RepoError(f"no user or group named ~{name.strip().lstrip('~')}")
    return owner


def _description(text: str) -> str:
    text = text.strip()
    if "\x00" in text:
        raise RepoError("the description holds a NUL character")
    if len(text) > DESCRIPTION_MAX:
        raise RepoError(f"the description is too long ({DESCRIPTION_MAX} characters at most)")
    return text
