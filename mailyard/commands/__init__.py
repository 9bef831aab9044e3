"""The `mailyard` command's groups, one module per domain; `mailyard/cli.py` adds them
to the root command. What they share: a migrated database, and a list named on the
command line that must exist."""

from __future__ import annotations

import click

from archive.lists import get_list
from core.settings import get_settings
from mailyard.migrate import upgrade_database


def ready_database() -> None:
    upgrade_database(get_settings())


def existing_list(session, name: str):
    mlist = get_list(session, name)
    if mlist is None:
        raise click.ClickException(f"no list named {name!r}")
    return mlist
