"""`mailyard user ...`: accounts from the command line."""

from __future__ import annotations

import click


@click.group(name="user")
def user_group() -> None:
    """Create and list accounts, and make admins."""
