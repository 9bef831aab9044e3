"""`mailyard group ...` and `mailyard project ...`: organisations and project hubs.

The command line is the operator: it may add anyone to any group and link any list or
tracker to any project. A group still keeps at least one owner.
"""

from __future__ import annotations

import click

from accounts.groups import (
    all_groups,
    create_group,
    get_group,
    members_of,
    parse_role,
    remove_member,
    set_member,
)
from accounts.projects import (
    add_link,
    all_projects,
    create_project,
    find_owner,
    get_project,
    hosted_repo_scope,
    links_of,
    names_hosted_repository,
    parse_link,
    parse_project_path,
    projects_of,
    remove_link,
    repo_scope,
)
from accounts.users import find_user
from archive.lists import get_list
from archive.models import MailingList
from core.db import session_scope
from core.settings import get_settings
from mailyard.commands import ready_database
from repos.models import Repository
from repos.repositories import repository_named
from trackers.models import Tracker
from trackers.tickets import get_tracker

ROLES = ("member", "maintainer", "owner")


@click.group(name="group")
def group_group() -> None:
    """Create groups (organisations) and manage their members."""


@group_group.command(name="create")
@click.argument("name")
@click.option("--owner", required=True, help="The username of the group's first owner.")
@click.option("--description", default="", help="Shown on the group's page.")
def group_create(name: str, owner: str, description: str) -> None:
    """Create group ~NAME (names are shared with usernames), owned by user OWNER."""
    ready_database()
    with session_scope() as session:
        group = create_group(session, name, _existing_user(session, owner), description)
        click.echo(f"created ~{group.name}, owned by ~{owner.lower().lstrip('~')}")


@group_group.command(name="add")
@click.argument("name")
@click.argument("username")
@click.option(
    "--role", default="member", show_default=True, help=f"Their role: {', '.join(ROLES)}."
)
def group_add(name: str, username: str, role: str) -> None:
    """Add USERNAME to group NAME, or change their role."""
    ready_database()
    with session_scope() as session:
        group = _existing_group(session, name)
        user = _existing_user(session, username)
        member = set_member(session, group, user, parse_role(role))
        click.echo(f"~{user.username} is {member.role.value} of ~{group.name}")


@group_group.command(name="remove")
@click.argument("name")
@click.argument("username")
def group_remove(name: str, username: str) -> None:
    """Take USERNAME out of group NAME (not its last owner)."""
    ready_database()
    with session_scope() as session:
        group = _existing_group(session, name)
        user = _existing_user(session, username)
        remove_member(session, group, user)
        click.echo(f"~{user.username} is no longer in ~{group.name}")


@group_group.command(name="ls")
@click.argument("name", required=False)
def group_ls(name: str | None) -> None:
    """Show every group and its number of members; with NAME, that group's members."""
    ready_database()
    with session_scope() as session:
        if name:
            group = _existing_group(session, name)
            for user, role in members_of(session, group):
                click.echo(f"~{user.username}\t{role.value}")
            return
        groups = all_groups(session)
        if not groups:
            click.echo("no groups yet: create one with `mailyard group create NAME --owner USER`")
        for group, count in groups:
            click.echo(f"~{group.name}\t{count} members\t{group.description}")


# -- projects ----------------------------------------------------------------------------


@click.group(name="project")
def project_group() -> None:
    """Create projects and link their lists, trackers and repositories."""


@project_group.command(name="create")
@click.argument("path", metavar="~OWNER/NAME")
@click.option("--description", default="", help="One line shown on the project's page.")
def project_create(path: str, description: str) -> None:
    """Create project NAME of user or group OWNER, at /~OWNER/NAME on the web."""
    ready_database()
    with session_scope() as session:
        owner_name, name = parse_project_path(path)
        owner = find_owner(session, owner_name)
        if owner is None:
            raise click.ClickException(f"no user or group named ~{owner_name}")
        project = create_project(session, owner, name, description)
        base = get_settings().base_url.rstrip("/")
        click.echo(f"created ~{project.owner_name}/{project.name}: {base}/~{owner_name}/{name}")


@project_group.command(name="link")
@click.argument("path", metavar="~OWNER/NAME")
@click.argument("link", metavar="list:NAME|tracker:NAME|repo:~OWNER/NAME|repo:URL")
@click.option("--remove", is_flag=True, help="Take the link off the project instead.")
def project_link(path: str, link: str, remove: bool) -> None:
    """Link a list, a tracker, a repository hosted here or a repository URL to a
    project (or unlink it)."""
    ready_database()
    with session_scope() as session:
        project = _existing_project(session, path)
        kind, value = parse_link(link)
        scope = _scope(session, kind, value)
        where = f"~{project.owner_name}/{project.name}"
        if remove:
            if not remove_link(session, project, scope):
                raise click.ClickException(f"{kind} {value} is not linked to {where}")
            click.echo(f"unlinked {kind} {value} from {where}")
        else:
            add_link(session, project, scope)
            click.echo(f"linked {kind} {value} to {where}")


@project_group.command(name="ls")
@click.argument("owner", required=False, metavar="[~OWNER]")
def project_ls(owner: str | None) -> None:
    """Show every project (or OWNER's) and what it links."""
    ready_database()
    with session_scope() as session:
        if owner:
            if find_owner(session, owner) is None:
                raise click.ClickException(f"no user or group named ~{owner.lstrip('~')}")
            projects = projects_of(session, owner)
        else:
            projects = all_projects(session)
        if not projects and not owner:
            click.echo("no projects yet: create one with `mailyard project create ~OWNER/NAME`")
        for project in projects:
            links = " ".join(_describe(session, link.scope) for link in links_of(session, project))
            click.echo(
                f"~{project.owner_name}/{project.name}\t{links or '-'}\t{project.description}"
            )


# -- shared ------------------------------------------------------------------------------


def _existing_user(session, username: str):
    user = find_user(session, username)
    if user is None:
        raise click.ClickException(f"no user named ~{username.strip().lstrip('~')}")
    return user


def _existing_group(session, name: str):
    group = get_group(session, name)
    if group is None:
        raise click.ClickException(f"no group named ~{name.strip().lstrip('~')}")
    return group


def _existing_project(session, path: str):
    owner_name, name = parse_project_path(path)
    project = get_project(session, owner_name, name)
    if project is None:
        raise click.ClickException(f"no project ~{owner_name}/{name}")
    return project


def _scope(session, kind: str, value: str) -> str:
    """The scope of list:NAME, tracker:NAME, repo:~OWNER/NAME (which must exist) or
    repo:URL."""
    if kind == "repo" and names_hosted_repository(value):
        repository = repository_named(session, value)
        if repository is None:
            raise click.ClickException(f"no repository {value}")
        return hosted_repo_scope(repository.id)
    if kind == "repo":
        return repo_scope(value)
    thing = get_list(session, value) if kind == "list" else get_tracker(session, value)
    if thing is None:
        raise click.ClickException(f"no {kind} named {value!r}")
    return f"{kind}:{thing.id}"


def _describe(session, scope: str) -> str:
    """'list:dev' for 'list:7', 'repo:~ada/tool' for 'repo:3': scopes as people wrote
    them."""
    kind, _, value = scope.partition(":")
    model = {"list": MailingList, "tracker": Tracker, "repo": Repository}.get(kind)
    if model is None or not value.isdigit():
        return scope
    thing = session.get(model, int(value))
    if thing is None:
        return f"{kind}:(gone)"
    return f"repo:{thing.path_name}" if isinstance(thing, Repository) else f"{kind}:{thing.name}"
