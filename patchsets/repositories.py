"""Which hosted repositories a list's patches are for, and which one a patchset goes to.

A list is linked to repositories directly (`mailyard list set LIST --repo ~O/N`, the
list's settings page) or through a project that links both the list and the repository.
A patchset goes to the linked repository its subject prefix names (`[PATCH NAME v2 3/7]`,
as git.sr.ht's "prepare a patchset" sends), else to the list's default one: the one
marked default, else the only one, else none (the list has to say).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accounts.access import Actor
from accounts.models import ProjectLink
from archive.models import MailingList
from core.errors import UserError
from core.settings import Settings
from patchsets.models import ListRepository, Patchset
from repos.access import RepoRight, may
from repos.commits import has_commit
from repos.models import Repository
from repos.repositories import parse_repo_path, repositories_by_id, visible_repository
from repos.storage import path_of


class RepositoryLinkError(UserError):
    """A list cannot be linked to (or unlinked from) that repository; the message says
    why, for a person."""


class LinkKind(StrEnum):
    default = "default"  # linked directly and marked the list's default
    direct = "direct"  # linked directly
    project = "project"  # shared through a project that links both


@dataclass(frozen=True)
class RepositoryLink:
    repository: Repository
    kind: LinkKind


class ChosenBy(StrEnum):
    subject = "subject"  # the subject's prefix names it
    default = "default"  # the list's default repository


@dataclass(frozen=True)
class PatchsetRepository:
    """Which repository a patchset is for, why, and whether its base commit is there."""

    repository: Repository
    chosen_by: ChosenBy
    base_commit: str | None
    base_found: bool | None  # None: the series names no base


def link_repository(
    session: Session, mlist: MailingList, repository: Repository, *, default: bool = False
) -> ListRepository:
    """Link `repository` to the list (once); `default` makes it the list's default."""
    link = session.scalar(
        select(ListRepository).where(
            ListRepository.list_id == mlist.id, ListRepository.repository_id == repository.id
        )
    )
    if link is None:
        link = ListRepository(list_id=mlist.id, repository_id=repository.id, is_default=False)
        session.add(link)
    if default:
        session.execute(
            update(ListRepository)
            .where(ListRepository.list_id == mlist.id)
            .values(is_default=False)
        )
        link.is_default = True
    session.flush()
    return link


def unlink_repository(session: Session, mlist: MailingList, repository: Repository) -> bool:
    """Take the direct link away; False when there was none (a project's link stays)."""
    link = session.scalar(
        select(ListRepository).where(
            ListRepository.list_id == mlist.id, ListRepository.repository_id == repository.id
        )
    )
    if link is None:
        return False
    session.delete(link)
    session.flush()
    return True


def direct_links(session: Session, list_id: int) -> list[ListRepository]:
    return list(
        session.scalars(
            select(ListRepository)
            .where(ListRepository.list_id == list_id)
            .order_by(ListRepository.id)
        )
    )


def linked_repositories(session: Session, list_id: int) -> list[Repository]:
    """The list's repositories: the default first, then the direct links in the order
    made, then those shared through projects."""
    links = direct_links(session, list_id)
    ids = [link.repository_id for link in sorted(links, key=lambda link: not link.is_default)]
    ids += [i for i in _project_repository_ids(session, list_id) if i not in ids]
    found = repositories_by_id(session, ids)
    return [found[i] for i in ids if i in found]


def default_repository(session: Session, list_id: int) -> Repository | None:
    """The one marked default, else the only linked repository, else None."""
    links = direct_links(session, list_id)
    chosen = [link.repository_id for link in links if link.is_default]
    if not chosen:
        linked = linked_repositories(session, list_id)
        return linked[0] if len(linked) == 1 else None
    return session.get(Repository, chosen[0])


def repository_for(session: Session, patchset: Patchset) -> Repository | None:
    """The repository `patchset` is for (see the module docstring)."""
    chosen = _chosen_repository(session, patchset)
    return chosen[0] if chosen is not None else None


def _chosen_repository(session: Session, patchset: Patchset) -> tuple[Repository, ChosenBy] | None:
    linked = linked_repositories(session, patchset.list_id)
    named = repository_named_by(patchset.tags, [r.name for r in linked])
    if named is not None:
        return linked[named], ChosenBy.subject
    default = default_repository(session, patchset.list_id)
    return (default, ChosenBy.default) if default is not None else None


def patchset_repository(
    session: Session, settings: Settings, patchset: Patchset, actor: Actor
) -> PatchsetRepository | None:
    """What the patchset page says about its repository, for `actor`: nothing when the
    patchset goes to no repository or to one they may not read (a private repository is
    not named)."""
    chosen = _chosen_repository(session, patchset)
    if chosen is None or not may(session, chosen[0], actor, RepoRight.read):
        return None
    repository, chosen_by = chosen
    base = patchset.base_commit
    found = None if not base else has_commit(path_of(settings, repository), base)
    return PatchsetRepository(repository, chosen_by, base, found)


def repository_links(session: Session, list_id: int) -> list[RepositoryLink]:
    """Every repository linked to the list, as `linked_repositories` orders them, with
    how it is linked (for the settings page and `mailyard list set`)."""
    kinds = {
        link.repository_id: LinkKind.default if link.is_default else LinkKind.direct
        for link in direct_links(session, list_id)
    }
    return [
        RepositoryLink(r, kinds.get(r.id, LinkKind.project))
        for r in linked_repositories(session, list_id)
    ]


def link_named(
    session: Session, mlist: MailingList, text: str, actor: Actor, *, default: bool = False
) -> Repository:
    """Link the repository '~OWNER/NAME' names to the list, if `actor` may read it (one
    they may not read does not exist for them)."""
    repository = _readable(session, text, actor)
    link_repository(session, mlist, repository, default=default)
    return repository


def unlink_named(session: Session, mlist: MailingList, text: str, actor: Actor) -> Repository:
    repository = _readable(session, text, actor)
    if not unlink_repository(session, mlist, repository):
        raise RepositoryLinkError(
            f"{repository.path_name} is not linked to {mlist.name} directly"
            " (a project's link is undone on the project)"
        )
    return repository


def _readable(session: Session, text: str, actor: Actor) -> Repository:
    try:
        owner_name, name = parse_repo_path(text)
    except UserError as e:
        raise RepositoryLinkError(str(e)) from None
    repository = visible_repository(session, actor, owner_name, name)
    if repository is None:
        raise RepositoryLinkError(f"no repository ~{owner_name}/{name}")
    return repository


def repository_named_by(tags: Iterable[str], names: Sequence[str]) -> int | None:
    """The index in `names` of the repository a subject's prefix words name, or None.
    Pure; names compare without case, as repository names are stored lower-cased."""
    wanted = [t.lower() for t in tags]
    for tag in wanted:
        for i, name in enumerate(names):
            if name.lower() == tag:
                return i
    return None


def lists_of_repository(session: Session, repository_id: int) -> list[int]:
    """The ids of the lists whose patches may land in the repository (direct links and
    shared projects), for the push hooks."""
    direct = session.scalars(
        select(ListRepository.list_id).where(ListRepository.repository_id == repository_id)
    )
    ids = list(dict.fromkeys(direct))
    projects = select(ProjectLink.project_id).where(ProjectLink.scope == f"repo:{repository_id}")
    shared = session.scalars(
        select(ProjectLink.scope).where(
            ProjectLink.project_id.in_(projects), ProjectLink.scope.like("list:%")
        )
    )
    for scope in shared:
        value = scope.partition(":")[2]
        if value.isdigit() and int(value) not in ids:
            ids.append(int(value))
    existing = set(session.scalars(select(MailingList.id).where(MailingList.id.in_(ids))))
    return [i for i in ids if i in existing]


def _project_repository_ids(session: Session, list_id: int) -> list[int]:
    projects = select(ProjectLink.project_id).where(ProjectLink.scope == f"list:{list_id}")
    scopes = session.scalars(
        select(ProjectLink.scope)
        .where(ProjectLink.project_id.in_(projects), ProjectLink.scope.like("repo:%"))
        .order_by(ProjectLink.id)
    )
    ids = []
    for scope in scopes:
        value = scope.partition(":")[2]
        if value.isdigit() and int(value) not in ids:
            ids.append(int(value))
    return ids
