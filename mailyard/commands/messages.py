"""`mailyard message`: what an operator does to one archived message."""

from __future__ import annotations

import getpass

import click

from archive.removal import remove_message
from core.db import session_scope
from mailyard.commands import existing_list, ready_database


@click.group(name="message")
def message_group() -> None:
    """Remove archived messages (spam, a leaked secret)."""


@message_group.command(name="rm")
@click.argument("list_name", metavar="LIST")
@click.argument("msgid", metavar="MSGID")
@click.option("--reason", required=True, help="Why: shown where the message was (410 Gone).")
def message_rm(list_name: str, msgid: str, reason: str) -> None:
    """Remove the message MSGID (with or without <>) from LIST, for good: a tombstone
    keeps intake and import-mbox from archiving it again."""
    ready_database()
    msgid = msgid.strip().removeprefix("<").removesuffix(">")
    with session_scope() as session:
        mlist = existing_list(session, list_name)
        tombstone = remove_message(session, mlist, msgid, reason, removed_by=_operator())
        click.echo(f"removed <{tombstone.message_id}> from {mlist.name}: {tombstone.reason}")


def _operator() -> str:
    """Who ran the command, for the tombstone and the log."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001  no user name in this environment
        return ""
