"""`mailyard patchset` and `mailyard key`: patchsets of a list, and the OpenPGP keys
that authenticate mail changing them."""

from __future__ import annotations

from contextlib import contextmanager

import click

from accounts.access import actor_for_user
from accounts.users import find_user
from core.db import session_scope
from core.settings import get_settings
from mail.keys import add_pgp_key, registered_key_rows
from mailyard.commands import OPERATOR_ACTOR, ROW_ID, existing_list, ready_database
from patchsets.apply import (
    ApplyOptions,
    ApplyRefused,
    apply_patchset,
    attempt_details,
    attempt_summary,
)
from patchsets.models import ApplyOutcome
from patchsets.queries import current_patches, get_patchset, patchsets_page
from patchsets.status import change_status, parse_status, rename_patchset
from repos.models import Repository


@click.group(name="key")
def key_group() -> None:
    """Register the OpenPGP keys whose signatures authenticate an address's mail."""


@key_group.command(name="add")
@click.argument("address")
@click.argument("key_file", type=click.File("r"))
def key_add(address: str, key_file) -> None:
    """Register the public key in KEY_FILE (armored; '-' for stdin) for ADDRESS."""
    ready_database()
    with session_scope() as session:
        key = add_pgp_key(session, address, key_file.read())
        click.echo(f"registered {key.fingerprint} for {key.address}")


@key_group.command(name="ls")
@click.argument("address")
def key_ls(address: str) -> None:
    """Show the keys registered for ADDRESS."""
    ready_database()
    with session_scope() as session:
        rows = registered_key_rows(session, address)
        if not rows:
            click.echo(f"no keys registered for {address}")
        for row in rows:
            click.echo(f"{row.fingerprint}\t{row.address}\tadded {row.added_at:%Y-%m-%d}")


@click.group(name="patchset")
def patchset_group() -> None:
    """Show patchsets and change their status."""


@patchset_group.command(name="ls")
@click.argument("list_name", metavar="LIST")
@click.option("--status", default=None, help="Only patchsets with this status.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def patchset_ls(list_name: str, status: str | None, limit: int) -> None:
    """The newest patchsets of LIST."""
    ready_database()
    with session_scope() as session:
        mlist = existing_list(session, list_name)
        wanted = parse_status(status) if status else None
        for p in patchsets_page(session, mlist.id, status=wanted, limit=limit):
            size = f"{p.patch_count}/{p.total}"
            click.echo(f"{p.id}\tv{p.version}\t{size}\t{p.status.value}\t{p.name}")


@patchset_group.command(name="status")
@click.argument("list_name", metavar="LIST")
@click.argument("patchset_id", metavar="ID", type=ROW_ID)
@click.argument("status")
def patchset_status(list_name: str, patchset_id: int, status: str) -> None:
    """Set the status of patchset ID of LIST, as its list owner."""
    wanted = parse_status(status)
    with _owned_patchset(list_name, patchset_id) as (session, mlist, patchset):
        changed = change_status(
            session, mlist, patchset, wanted, actor=mlist.owner_email, via="cli"
        )
        click.echo(f"patchset {patchset.id}: {wanted.value}" + ("" if changed else " (already)"))


@patchset_group.command(name="rename")
@click.argument("list_name", metavar="LIST")
@click.argument("patchset_id", metavar="ID", type=ROW_ID)
@click.argument("name")
def patchset_rename(list_name: str, patchset_id: int, name: str) -> None:
    """Name patchset ID of LIST, as its list owner; later mail keeps the name."""
    with _owned_patchset(list_name, patchset_id) as (session, mlist, patchset):
        rename_patchset(session, mlist, patchset, name, actor=mlist.owner_email)
        click.echo(f"patchset {patchset.id}: {patchset.name}")


@patchset_group.command(name="apply")
@click.argument("list_name", metavar="LIST")
@click.argument("patchset_id", metavar="ID", type=ROW_ID)
@click.option(
    "--repo",
    "repository",
    default=None,
    metavar="~OWNER/NAME",
    help="The repository (default: the one the patchset is for).",
)
@click.option("--branch", default=None, help="The branch (default: the repository's default).")
@click.option(
    "--base",
    default=None,
    metavar="REV",
    help="Apply on REV (default: the base-commit, else the branch head).",
)
@click.option("--check", is_flag=True, help="Only say whether it applies cleanly.")
@click.option("--signoff", is_flag=True, help="Add the applier's Signed-off-by.")
@click.option("--no-link", is_flag=True, help="Drop the Link: trailer to the archive.")
@click.option("--review-branch", is_flag=True, help="Apply to a new branch review/ID.")
@click.option("--thanks", is_flag=True, help="Reply 'applied, thanks' to the thread.")
@click.option(
    "--as",
    "as_user",
    default=None,
    metavar="USER",
    help="Apply as USER (their rights, their name on the commits).",
)
def patchset_apply(
    list_name: str,
    patchset_id: int,
    repository: str | None,
    branch: str | None,
    base: str | None,
    check: bool,
    signoff: bool,
    no_link: bool,
    review_branch: bool,
    thanks: bool,
    as_user: str | None,
) -> None:
    """Apply patchset ID of LIST to its repository with git am -3; with --check, say
    whether it would. Exits 1 when it does not apply."""
    options = ApplyOptions(
        repository=repository,
        branch=branch,
        base=base,
        signoff=signoff,
        link=not no_link,
        review_branch=review_branch,
        thanks=thanks,
        dry_run=check,
    )  # fmt: skip
    with _owned_patchset(list_name, patchset_id) as (session, mlist, patchset):
        actor = OPERATOR_ACTOR
        if as_user:
            user = find_user(session, as_user.lstrip("~"))
            if user is None:
                raise click.ClickException(f"no user {as_user}")
            actor = actor_for_user(session, user)
        try:
            attempt = apply_patchset(session, get_settings(), mlist, patchset, actor, options)
        except ApplyRefused as refused:
            raise click.ClickException(str(refused)) from None
        total = len(current_patches(patchset))
        target = session.get(Repository, attempt.repository_id)
        click.echo(f"patchset {patchset.id}: {attempt_summary(attempt, target, total)}")
        for line in attempt_details(attempt):
            click.echo(f"  {line}")
    if attempt.outcome not in (ApplyOutcome.applied, ApplyOutcome.clean):
        raise SystemExit(1)


@contextmanager
def _owned_patchset(list_name: str, patchset_id: int):
    """(session, list, patchset) for a change the operator makes as the list owner; the
    session commits when the block ends without an error."""
    ready_database()
    with session_scope() as session:
        mlist = existing_list(session, list_name)
        patchset = get_patchset(session, patchset_id, mlist.name)
        if patchset is None:
            raise click.ClickException(f"{list_name} has no patchset {patchset_id}")
        yield session, mlist, patchset
