"""The `mailyard` command's groups, one module per domain; `mailyard/cli.py` adds them
to the root command. What they share: a migrated database, and a list named on the
command line that must exist."""

from __future__ import annotations

import click

from accounts.access import Actor
from archive.lists import get_list
from core.params import parse_id
from core.settings import get_settings
from mailyard.migrate import upgrade_database


class RowId(click.ParamType):
    """An id argument, read by `core.params` as the web reads ids: a number no row can
    have (0, 99999999999999999999, 'abc') is a `ParameterError`, which the root command
    prints as one line."""

    name = "id"

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        return parse_id(param.human_readable_name if param else "ID", value)


ROW_ID = RowId()

# Who runs a command on this machine: the operator, who may do anything.
OPERATOR_ACTOR = Actor(is_admin=True)


def ready_database() -> None:
    upgrade_database(get_settings())


def existing_list(session, name: str):
    mlist = get_list(session, name)
    if mlist is None:
        raise click.ClickException(f"no list named {name!r}")
    return mlist
