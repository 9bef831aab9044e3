"""`mailyard tracker`: ticket trackers, who may use them, and signed export and import."""

from __future__ import annotations

import click

from accounts.groups import get_group
from accounts.models import Group
from accounts.users import find_user
from core.db import session_scope
from core.settings import get_settings
from mail.addresses import list_addresses
from mailyard.commands import ready_database
from trackers.access import set_access, set_default_rights, set_owner_group, set_visibility
from trackers.export import export_tracker, import_tracker, read_export, write_export
from trackers.tickets import all_trackers, create_tracker, get_tracker


@click.group(name="tracker")
def tracker_group() -> None:
    """Ticket trackers: TRACKER@DOMAIN opens a ticket, TRACKER+N@DOMAIN comments on it."""


@tracker_group.command(name="create")
@click.argument("name")
@click.option("--owner", required=True, help="The tracker owner's email address.")
@click.option("--description", default="", help="One line shown on the web.")
def tracker_create(name: str, owner: str, description: str) -> None:
    """Create tracker NAME, reachable at NAME@DOMAIN and /NAME/tickets/ on the web."""
    ready_database()
    with session_scope() as session:
        tracker = create_tracker(session, name, owner, description)
        posting = list_addresses(tracker.name, get_settings().domain).posting
        click.echo(f"created {tracker.name}: report to {posting}")


@tracker_group.command(name="ls")
def tracker_ls() -> None:
    """Show every tracker."""
    ready_database()
    domain = get_settings().domain
    with session_scope() as session:
        for tracker in all_trackers(session):
            posting = list_addresses(tracker.name, domain).posting
            click.echo(f"{posting}\t{tracker.last_number} tickets\t{tracker.description}")


@tracker_group.command(name="grant")
@click.argument("tracker_name", metavar="TRACKER")
@click.argument("who", metavar="ADDRESS|~USER")
@click.option(
    "--rights",
    default="browse,submit,comment,edit,triage",
    show_default=True,
    help="Comma-separated: browse, submit, comment, edit, triage; empty shuts them out.",
)
def tracker_grant(tracker_name: str, who: str, rights: str) -> None:
    """Give an address or a user exactly RIGHTS on TRACKER, in place of its defaults."""
    ready_database()
    with session_scope() as session:
        tracker = _existing_tracker(session, tracker_name)
        if who.startswith("~"):
            user = find_user(session, who)
            if user is None:
                raise click.ClickException(f"no user named {who}")
            chosen = set_access(session, tracker, rights, user_id=user.id)
        else:
            chosen = set_access(session, tracker, rights, address=who)
        click.echo(
            f"{who.lower()} has {', '.join(sorted(chosen)) or 'no rights'} on {tracker.name}"
        )


@tracker_group.command(name="set")
@click.argument("tracker_name", metavar="TRACKER")
@click.option("--visibility", help="public, unlisted (not on /trackers/) or private.")
@click.option(
    "--default-rights",
    help="Comma-separated rights of anyone without an entry: browse, submit, comment,"
    " edit, triage; empty for none.",
)
@click.option("--group", "group_name", help="The owning group's name, or 'none'.")
def tracker_set(
    tracker_name: str, visibility: str | None, default_rights: str | None, group_name: str | None
) -> None:
    """Change who may use TRACKER: its visibility, default rights and owning group."""
    if visibility is None and default_rights is None and group_name is None:
        raise click.ClickException(
            "nothing to change: give --visibility, --default-rights or --group"
        )
    ready_database()
    with session_scope() as session:
        tracker = _existing_tracker(session, tracker_name)
        if visibility is not None:
            set_visibility(tracker, visibility)
        if default_rights is not None:
            set_default_rights(tracker, default_rights)
        if group_name is not None:
            group = None
            if group_name.strip().lower() not in ("none", ""):
                group = get_group(session, group_name)
                if group is None:
                    raise click.ClickException(f"no group named ~{group_name.lstrip('~')}")
            set_owner_group(tracker, group)
        session.flush()
        owning = session.get(Group, tracker.owner_group_id) if tracker.owner_group_id else None
        click.echo(
            f"{tracker.name}: {tracker.visibility}, default rights"
            f" {tracker.default_rights.replace(',', ', ') or 'none'},"
            f" group {'~' + owning.name if owning else 'none'}"
        )


@tracker_group.command(name="export")
@click.argument("tracker_name", metavar="TRACKER")
@click.argument("file", type=click.File("wb"))
def tracker_export(tracker_name: str, file) -> None:
    """Write TRACKER's tickets, comments, labels and events to FILE (gzip JSON, signed)."""
    ready_database()
    with session_scope() as session:
        doc = export_tracker(session, get_settings(), _existing_tracker(session, tracker_name))
    write_export(doc, file)
    click.echo(f"exported {len(doc['tickets'])} tickets of {tracker_name}")


@tracker_group.command(name="import")
@click.argument("tracker_name", metavar="TRACKER")
@click.argument("file", type=click.File("rb"))
def tracker_import(tracker_name: str, file) -> None:
    """Read an export into TRACKER, which must have no tickets; checks every signature."""
    ready_database()
    doc = read_export(file)
    with session_scope() as session:
        tracker = _existing_tracker(session, tracker_name)
        counts = import_tracker(session, get_settings(), tracker, doc)
    marks = ", ".join(f"{n} {mark}" for mark, n in counts.items())
    click.echo(f"imported {len(doc['tickets'])} tickets into {tracker_name}: {marks}")


def _existing_tracker(session, name: str):
    tracker = get_tracker(session, name)
    if tracker is None:
        raise click.ClickException(f"no tracker named {name!r}")
    return tracker
