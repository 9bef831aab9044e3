"""`mailyard repo ...`: hosted git repositories, and the hook git runs after a push.

The command line is the operator: it may make and change any repository.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from accounts.access import VISIBILITIES
from accounts.groups import get_group
from accounts.models import Group
from accounts.projects import find_owner
from core.db import session_scope
from core.settings import get_settings
from mailyard.commands import ready_database
from repos import storage
from repos.access import grant_access, revoke_access
from repos.bundles import import_history, source_of, write_bundle
from repos.models import PushVia, Repository
from repos.pushes import PushInputError, parse_post_receive, record_push, ref_updates
from repos.repositories import (
    all_repositories,
    committed_or_removed,
    confirms_deletion,
    create_repository,
    delete_repository,
    owner_named,
    parse_repo_path,
    remove_directory,
    repository_named,
    update_repository,
)
from repos.tasks import enqueue_hooks


@click.group(name="repo")
def repo_group() -> None:
    """Create, list and change hosted git repositories."""


@repo_group.command(name="create")
@click.argument("path", metavar="~OWNER/NAME")
@click.option("--description", default="", help="Shown on the repository's pages.")
@click.option(
    "--visibility",
    type=click.Choice(VISIBILITIES),
    default="public",
    show_default=True,
    help="public, unlisted (not listed), or private (invisible without rights).",
)
@click.option("--default-branch", default="main", show_default=True)
def repo_create(path: str, description: str, visibility: str, default_branch: str) -> None:
    """Create the repository ~OWNER/NAME (OWNER is a user or a group)."""
    ready_database()
    settings = get_settings()
    owner_name, name = parse_repo_path(path)
    with session_scope() as session:
        repository = create_repository(
            session,
            settings,
            owner_named(session, owner_name),
            name,
            description=description,
            visibility=visibility,
            default_branch=default_branch,
        )
        with committed_or_removed(session, settings, repository):
            shown = repository.path_name
    click.echo(f"created {shown} in {storage.repository_path(settings, owner_name, name)}")


@repo_group.command(name="ls")
@click.argument("owner", required=False, metavar="[~OWNER]")
def repo_ls(owner: str | None) -> None:
    """Show every repository (or OWNER's): name, visibility, default branch, last push."""
    ready_database()
    with session_scope() as session:
        if owner is not None and find_owner(session, owner) is None:
            raise click.ClickException(f"no user or group named ~{owner.strip().lstrip('~')}")
        repositories = all_repositories(session, owner)
        if not repositories and owner is None:
            click.echo("no repositories yet: create one with `mailyard repo create ~OWNER/NAME`")
        for repository in repositories:
            pushed = repository.pushed_at
            click.echo(
                f"{repository.path_name}\t{repository.visibility}\t{repository.default_branch}"
                f"\t{pushed.strftime('%Y-%m-%d %H:%M UTC') if pushed else 'never pushed'}"
            )


@repo_group.command(name="rm")
@click.argument("path", metavar="~OWNER/NAME")
@click.option("--yes", is_flag=True, help="Do not ask for the name again.")
def repo_rm(path: str, yes: bool) -> None:
    """Delete the repository ~OWNER/NAME and everything in it, after typing its name."""
    ready_database()
    settings = get_settings()
    with session_scope() as session:
        repository = _existing_repository(session, path)
        shown, owner_name, name = repository.path_name, repository.owner_name, repository.name
        if not yes:
            typed = click.prompt(f"This deletes {shown} and its history; type its name to go on")
            if not confirms_deletion(repository, typed):
                raise click.ClickException(f"{typed.strip()!r} is not {shown}: nothing deleted")
        delete_repository(session, settings, repository)
    remove_directory(settings, owner_name, name)  # only once the row is gone for good
    click.echo(f"deleted {shown}")


@repo_group.command(name="set")
@click.argument("path", metavar="~OWNER/NAME")
@click.option("--description", default=None, help="Shown on the repository's pages.")
@click.option("--default-branch", default=None, help="The branch HEAD names.")
@click.option("--visibility", type=click.Choice(VISIBILITIES), default=None)
@click.option("--group", default=None, help="The group whose maintainers help (a user's own).")
@click.option("--no-group", is_flag=True, help="Take the owning group off a user's repository.")
@click.option(
    "--default-rights",
    default=None,
    metavar="RIGHTS",
    help="Of read,write,admin, comma-separated: anyone's without an access entry.",
)
def repo_set(
    path: str,
    description: str | None,
    default_branch: str | None,
    visibility: str | None,
    group: str | None,
    no_group: bool,
    default_rights: str | None,
) -> None:
    """Change what is given of a repository's settings, and show them all."""
    if group is not None and no_group:
        raise click.ClickException("--group and --no-group: choose one")
    ready_database()
    settings = get_settings()
    with session_scope() as session:
        repository = _existing_repository(session, path)
        owner_group = get_group(session, group) if group is not None else None
        if group is not None and owner_group is None:
            raise click.ClickException(f"no group named ~{group.strip().lstrip('~')}")
        update_repository(
            session,
            settings,
            repository,
            description=description,
            default_branch=default_branch,
            visibility=visibility,
            default_rights=default_rights,
            owner_group=owner_group if group is not None or no_group else False,
        )
        group_name = (
            owner_group.name
            if owner_group is not None
            else _group_name(session, repository.owner_group_id)
        )
        click.echo(
            f"{repository.path_name}\t{repository.visibility}\t{repository.default_branch}"
            f"\tdefault rights {repository.default_rights or 'none'}"
            f"\tgroup {('~' + group_name) if group_name else 'none'}"
        )


@repo_group.command(name="access")
@click.argument("path", metavar="~OWNER/NAME")
@click.argument("who", metavar="USER|ADDRESS")
@click.argument("rights", required=False, metavar="RIGHTS")
@click.option("--remove", is_flag=True, help="Remove WHO's entry: the defaults apply again.")
def repo_access(path: str, who: str, rights: str | None, remove: bool) -> None:
    """Give USER or ADDRESS exactly RIGHTS (of read,write,admin, comma-separated; 'none'
    shuts them out) on ~OWNER/NAME, or remove their entry with --remove."""
    if remove == (rights is not None):
        raise click.ClickException("give RIGHTS, or --remove without RIGHTS")
    ready_database()
    with session_scope() as session:
        repository = _existing_repository(session, path)
        if remove:
            done = revoke_access(session, repository, who)
            click.echo(f"{who.strip()}\t{'entry removed' if done else 'had no entry'}")
            return
        assert rights is not None
        grant = grant_access(session, repository, who, "" if rights == "none" else rights)
        what = ",".join(grant.rights) if grant.rights else "no rights (shut out)"
        click.echo(f"{grant.who}\t{what}\ton {repository.path_name}")


@repo_group.command(name="import")
@click.argument("path", metavar="~OWNER/NAME")
@click.argument("source", metavar="SOURCE")
@click.option("--description", default="", help="Shown on the repository's pages.")
@click.option("--visibility", type=click.Choice(VISIBILITIES), default="public", show_default=True)
def repo_import(path: str, source: str, description: str, visibility: str) -> None:
    """Create ~OWNER/NAME with every branch and tag of SOURCE: a local repository, a
    bundle file, or a git URL on this machine (file://, or http(s) to 127.0.0.1 or
    localhost). The import is recorded as a push, so the push hooks run on it."""
    ready_database()
    settings = get_settings()
    owner_name, name = parse_repo_path(path)
    found = source_of(source)  # before anything is made
    with session_scope() as session:
        repository = create_repository(
            session,
            settings,
            owner_named(session, owner_name),
            name,
            description=description,
            visibility=visibility,
        )
        with committed_or_removed(session, settings, repository):
            push = import_history(session, settings, repository, found)
            shown, branch = repository.path_name, repository.default_branch
            push_id = push.id if push is not None else None
            refs = len(ref_updates(session, push_id)) if push_id is not None else 0
    if push_id is not None:
        enqueue_hooks(push_id)
    click.echo(f"imported {shown}: {refs} branches and tags, default branch {branch}")


@repo_group.command(name="bundle")
@click.argument("path", metavar="~OWNER/NAME")
@click.argument("target", type=click.Path(dir_okay=False, writable=True), metavar="FILE")
def repo_bundle(path: str, target: str) -> None:
    """Write ~OWNER/NAME as a git bundle of every branch and tag to FILE (`git clone
    FILE` reads it; `mailyard repo import` too)."""
    ready_database()
    with session_scope() as session:
        repository = _existing_repository(session, path)
        size = write_bundle(get_settings(), repository, Path(target))
        click.echo(f"wrote {repository.path_name} to {target} ({size} bytes)")


def _existing_repository(session, path: str) -> Repository:
    repository = repository_named(session, path)
    if repository is None:
        owner_name, name = parse_repo_path(path)
        raise click.ClickException(f"no repository ~{owner_name}/{name}")
    return repository


def _group_name(session, group_id: int | None) -> str:
    group = session.get(Group, group_id) if group_id is not None else None
    return group.name if group is not None else ""


@repo_group.group(name="hook", hidden=True)
def hook_group() -> None:
    """What git's hooks in a hosted repository run (`repos.storage`)."""


@hook_group.command(name="post-receive")
def hook_post_receive() -> None:
    """Record the push git just received (its ref updates on standard input)."""
    repository_id = os.environ.get(storage.ENV_REPOSITORY_ID, "")
    if not repository_id.isdigit():
        return  # not a push Mailyard started
    pusher = os.environ.get(storage.ENV_PUSHER_ID, "")
    try:
        via = PushVia(os.environ.get(storage.ENV_PUSH_VIA, PushVia.local.value))
        changes = parse_post_receive(sys.stdin.read())
    except (ValueError, PushInputError) as e:
        raise click.ClickException(f"mailyard could not record this push: {e}") from None
    if not changes:
        return
    with session_scope() as session:
        repository = session.get(Repository, int(repository_id))
        if repository is None:
            return
        push = record_push(
            session,
            repository,
            changes,
            pusher_id=int(pusher) if pusher.isdigit() else None,
            via=via,
        )
        push_id = push.id
    enqueue_hooks(push_id)
