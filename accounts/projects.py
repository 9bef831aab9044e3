"""Projects: a hub at /~OWNER/NAME that brings together a description, a README, and
links to lists, trackers and repositories, owned by a user or a group.

Links are scope strings, as access entries are: "list:ID", "tracker:ID", "repo:ID" (a
repository hosted here) or "repo:URL" (one elsewhere). This module never looks a list, a
tracker or a repository up: the caller turns "list:NAME" into "list:ID" and
"repo:~OWNER/NAME" into "repo:ID", and checks that the person linking it may (DESIGN:
dependencies point from domains to `mailyard`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.access import Actor
from accounts.hooks import PATH_TAKEN
from accounts.models import Group, GroupRole, Project, ProjectLink, User
from core.errors import UserError

PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# Pages below /~OWNER/ that a project must not shadow.
RESERVED_NAMES = frozenset({"members", "settings", "projects", "groups"})
DESCRIPTION_MAX = 2000
README_MAX = 100_000
LINK_KINDS = ("list", "tracker", "repo")
REPO_SCHEMES = ("https", "http", "git", "ssh")
SCOPE_MAX = 300  # ProjectLink.scope

Owner = User | Group


class ProjectError(UserError):
    """A project operation cannot be done; the message says why, for a person."""


def owner_name_of(owner: Owner) -> str:
    return owner.username.lower() if isinstance(owner, User) else owner.name


def find_owner(session: Session, name: str) -> Owner | None:
    """The user or group called ~NAME (they share one namespace)."""
    name = name.strip().lower().lstrip("~")
    user = session.scalar(select(User).where(func.lower(User.username) == name))
    if user is not None:
        return user
    return session.scalar(select(Group).where(Group.name == name))


def parse_project_path(text: str) -> tuple[str, str]:
    """'~OWNER/NAME' (the '~' may be left out) -> ('owner', 'name')."""
    owner, slash, name = text.strip().lstrip("~").partition("/")
    if not slash or not owner or not name or "/" in name:
        raise ProjectError(f"{text!r} is not a project: write ~OWNER/NAME")
    return owner.lower(), name.lower()


def create_project(
    session: Session, owner: Owner, name: str, description: str = "", readme: str = ""
) -> Project:
    name = name.strip().lower()
    if not PROJECT_NAME.match(name) or name in RESERVED_NAMES:
        raise ProjectError(
            f"invalid project name {name!r}: use 1-64 of a-z 0-9 . _ - (not starting with"
            f" . _ -), and none of {', '.join(sorted(RESERVED_NAMES))}"
        )
    owner_name = owner_name_of(owner)
    if get_project(session, owner_name, name) is not None:
        raise ProjectError(f"~{owner_name}/{name} already exists")
    for taken in PATH_TAKEN:
        if what := taken(session, owner_name, name):
            raise ProjectError(f"~{owner_name}/{name} is {what} already; choose another name")
    project = Project(
        owner_user_id=owner.id if isinstance(owner, User) else None,
        owner_group_id=owner.id if isinstance(owner, Group) else None,
        owner_name=owner_name,
        name=name,
        description=_checked(description.strip(), DESCRIPTION_MAX, "description"),
        readme=_checked(readme, README_MAX, "README"),
    )
    session.add(project)
    session.flush()
    return project


def get_project(session: Session, owner_name: str, name: str) -> Project | None:
    return session.scalar(
        select(Project).where(
            Project.owner_name == owner_name.strip().lower().lstrip("~"),
            Project.name == name.strip().lower(),
        )
    )


def projects_of(session: Session, owner_name: str) -> list[Project]:
    return list(
        session.scalars(
            select(Project)
            .where(Project.owner_name == owner_name.strip().lower().lstrip("~"))
            .order_by(Project.name)
        )
    )


def all_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.owner_name, Project.name)))


def update_project(
    session: Session,
    project: Project,
    *,
    description: str | None = None,
    readme: str | None = None,
) -> None:
    if description is not None:
        project.description = _checked(description.strip(), DESCRIPTION_MAX, "description")
    if readme is not None:
        project.readme = _checked(readme, README_MAX, "README")
    session.flush()


def may_manage_owner(actor: Actor, owner: Owner) -> bool:
    """Whether `actor` may make and edit projects for `owner`: the user themself, the
    group's owners and maintainers, and site admins."""
    if actor.is_admin:
        return True
    if isinstance(owner, User):
        return actor.user_id is not None and actor.user_id == owner.id
    return actor.role_in(owner.id) in (GroupRole.owner, GroupRole.maintainer)


def may_manage_project(actor: Actor, project: Project) -> bool:
    if actor.is_admin:
        return True
    if project.owner_user_id is not None:
        return actor.user_id is not None and actor.user_id == project.owner_user_id
    role = actor.role_in(project.owner_group_id)
    return role in (GroupRole.owner, GroupRole.maintainer)


# -- links -------------------------------------------------------------------------------


def parse_link(text: str) -> tuple[str, str]:
    """'list:NAME', 'tracker:NAME', 'repo:~OWNER/NAME' or 'repo:URL' -> (kind, NAME,
    ~owner/name or URL)."""
    kind, colon, value = text.strip().partition(":")
    kind = kind.strip().lower()
    if not colon or kind not in LINK_KINDS or not value.strip():
        raise ProjectError(
            f"{text!r} is not a link: write list:NAME, tracker:NAME, repo:~OWNER/NAME or repo:URL"
        )
    value = value.strip()
    if kind == "repo" and not names_hosted_repository(value):
        return kind, value
    return kind, value.lower()


def names_hosted_repository(value: str) -> bool:
    """Whether a repo link's value is ~OWNER/NAME, a repository hosted here (which the
    caller looks up and links as `hosted_repo_scope`), rather than a URL."""
    return value.startswith("~")


def hosted_repo_scope(repository_id: int) -> str:
    """'repo:ID' for a repository hosted here (the repository's own access scope)."""
    return f"repo:{repository_id}"


def repo_scope(url: str) -> str:
    """'repo:URL' for a repository URL (https, http, git or ssh)."""
    url = url.strip()
    parts = urlsplit(url)
    if (
        parts.scheme.lower() not in REPO_SCHEMES
        or not parts.netloc
        or any(c.isspace() for c in url)
    ):
        raise ProjectError(
            f"{url!r} is not a repository URL: use {', '.join(REPO_SCHEMES)} with a host"
        )
    scope = f"repo:{url}"
    if len(scope) > SCOPE_MAX:
        raise ProjectError(f"the repository URL is too long ({SCOPE_MAX - 5} characters at most)")
    return scope


def add_link(session: Session, project: Project, scope: str) -> ProjectLink:
    """Link a resolved scope ("list:ID", "tracker:ID", "repo:ID", "repo:URL"); once each."""
    link = session.scalar(
        select(ProjectLink).where(ProjectLink.project_id == project.id, ProjectLink.scope == scope)
    )
    if link is None:
        link = ProjectLink(project_id=project.id, scope=scope)
        session.add(link)
        session.flush()
    return link


def remove_link(session: Session, project: Project, scope: str) -> bool:
    link = session.scalar(
        select(ProjectLink).where(ProjectLink.project_id == project.id, ProjectLink.scope == scope)
    )
    if link is None:
        return False
    session.delete(link)
    session.flush()
    return True


def remove_links_to(session: Session, scope: str) -> int:
    """Take `scope` off every project, for a thing that is going away."""
    links = list(session.scalars(select(ProjectLink).where(ProjectLink.scope == scope)))
    for link in links:
        session.delete(link)
    session.flush()
    return len(links)


def links_of(session: Session, project: Project) -> list[ProjectLink]:
    return list(
        session.scalars(
            select(ProjectLink).where(ProjectLink.project_id == project.id).order_by(ProjectLink.id)
        )
    )


def scope_ids(links: list[ProjectLink], kind: str) -> list[int]:
    """The ids of the links of one kind ("list", "tracker", or "repo" for the hosted
    repositories), in link order."""
    ids = []
    for link in links:
        what, _, value = link.scope.partition(":")
        if what == kind and value.isdigit():
            ids.append(int(value))
    return ids


def _checked(text: str, limit: int, what: str) -> str:
    if "\x00" in text:
        raise ProjectError(f"the {what} holds a NUL character")
    if len(text) > limit:
        raise ProjectError(f"the {what} is too long ({limit} characters at most)")
    return text
