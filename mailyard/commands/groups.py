"""`mailyard group ...` and `mailyard project ...`: organisations and project hubs."""

from __future__ import annotations

import click


@click.group(name="group")
def group_group() -> None:
    """Create groups (organisations) and manage their members."""


@click.group(name="project")
def project_group() -> None:
    """Create projects and link their lists, trackers and repositories."""
