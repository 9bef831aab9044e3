"""`mailyard repo ...`: hosted git repositories, and the hook git runs after a push.

The command line is the operator: it may make and change any repository.
"""

from __future__ import annotations

import os
import sys

import click

from accounts.access import VISIBILITIES
from core.db import session_scope
from core.settings import get_settings
from mailyard.commands import ready_database
from repos import storage
from repos.models import PushVia, Repository
from repos.pushes import PushInputError, parse_post_receive, record_push
from repos.repositories import (
    RepoError,
    create_repository,
    owner_named,
    parse_repo_path,
    remove_directory,
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
    try:
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
            shown = repository.path_name
    except RepoError:
        raise
    except BaseException:
        remove_directory(settings, owner_name, name)  # the row was not committed
        raise
    click.echo(f"created {shown} in {storage.repository_path(settings, owner_name, name)}")


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
