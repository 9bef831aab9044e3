"""`mailyard tracker`: ticket trackers, their triagers, and signed export and import."""

from __future__ import annotations

import click

from mailyard.commands import ready_database
from mailyard.settings import get_settings


@click.group(name="tracker")
def tracker_group() -> None:
    """Ticket trackers: TRACKER@DOMAIN opens a ticket, TRACKER+N@DOMAIN comments on it."""


@tracker_group.command(name="create")
@click.argument("name")
@click.option("--owner", required=True, help="The tracker owner's email address.")
@click.option("--description", default="", help="One line shown on the web.")
def tracker_create(name: str, owner: str, description: str) -> None:
    """Create tracker NAME, reachable at NAME@DOMAIN and /NAME/tickets/ on the web."""
    from mailyard.db import session_scope
    from trackers.tickets import create_tracker

    ready_database()
    with session_scope() as session:
        tracker = create_tracker(session, name, owner, description)
        click.echo(f"created {tracker.name}: report to {tracker.name}@{get_settings().domain}")


@tracker_group.command(name="ls")
def tracker_ls() -> None:
    """Show every tracker."""
    from mailyard.db import session_scope
    from trackers.tickets import all_trackers

    ready_database()
    domain = get_settings().domain
    with session_scope() as session:
        for tracker in all_trackers(session):
            click.echo(
                f"{tracker.name}@{domain}\t{tracker.last_number} tickets\t{tracker.description}"
            )


@tracker_group.command(name="grant")
@click.argument("tracker_name", metavar="TRACKER")
@click.argument("address")
@click.option(
    "--rights",
    default="browse,submit,comment,edit,triage",
    show_default=True,
    help="Comma-separated: browse, submit, comment, edit, triage; empty shuts ADDRESS out.",
)
def tracker_grant(tracker_name: str, address: str, rights: str) -> None:
    """Give ADDRESS exactly RIGHTS on TRACKER, in place of the tracker's defaults."""
    from mailyard.accounts.access import parse_rights
    from mailyard.db import session_scope
    from trackers.access import TRACKER_RIGHTS
    from trackers.tickets import grant

    try:
        chosen = parse_rights(rights, TRACKER_RIGHTS)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--rights") from None
    ready_database()
    with session_scope() as session:
        grant(session, _existing_tracker(session, tracker_name), address, chosen)
        click.echo(
            f"{address.lower()} has {', '.join(sorted(chosen)) or 'no rights'} on {tracker_name}"
        )


@tracker_group.command(name="export")
@click.argument("tracker_name", metavar="TRACKER")
@click.argument("file", type=click.File("wb"))
def tracker_export(tracker_name: str, file) -> None:
    """Write TRACKER's tickets, comments, labels and events to FILE (gzip JSON, signed)."""
    from mailyard.db import session_scope
    from trackers.export import export_tracker, write_export

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
    from mailyard.db import session_scope
    from trackers.export import import_tracker, read_export

    ready_database()
    doc = read_export(file)
    with session_scope() as session:
        tracker = _existing_tracker(session, tracker_name)
        counts = import_tracker(session, get_settings(), tracker, doc)
    marks = ", ".join(f"{n} {mark}" for mark, n in counts.items())
    click.echo(f"imported {len(doc['tickets'])} tickets into {tracker_name}: {marks}")


def _existing_tracker(session, name: str):
    from trackers.tickets import get_tracker

    tracker = get_tracker(session, name)
    if tracker is None:
        raise click.ClickException(f"no tracker named {name!r}")
    return tracker
