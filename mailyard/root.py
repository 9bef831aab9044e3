"""The root of the `mailyard` command: its options (--data-dir, --config), the settings
they make current, and the one place that turns the errors a user can cause into one
line and exit code 1. Light on purpose: `mailyard.entry` builds the ssh commands on it
without importing the rest of Mailyard (sshd starts them for every git operation)."""

from __future__ import annotations

import os

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from core.errors import UserError
from core.settings import SettingsError, get_settings, load_settings, use_settings


class MailyardGroup(click.Group):
    """Turns the errors a user can cause into one-line messages (the CLI's single place)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as e:
            raise click.ClickException(str(e)) from None
        except OperationalError as e:
            settings = get_settings()
            reason = str(e.orig).strip().splitlines()[0]
            raise click.ClickException(
                f"database error at MAILYARD_DATABASE_URL={safe_url(settings.database_url)}: "
                f"{reason}"
            ) from None
        except FileNotFoundError as e:
            raise click.ClickException(f"{e.filename}: no such file") from None


def root_group(name: str, help_text: str) -> click.Group:
    """A root command with Mailyard's options, making their settings current."""

    @click.group(
        name=name,
        cls=MailyardGroup,
        help=help_text,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    @click.option(
        "--data-dir",
        envvar="MAILYARD_DATA_DIR",
        type=click.Path(file_okay=False),
        help="Where the embedded mode keeps everything (env MAILYARD_DATA_DIR).",
    )
    @click.option(
        "--config",
        envvar="MAILYARD_CONFIG",
        type=click.Path(dir_okay=False),
        help="The settings file (env MAILYARD_CONFIG; default: mailyard.toml in the data dir).",
    )
    def root(data_dir: str | None, config: str | None) -> None:
        env = dict(os.environ)
        if data_dir:
            env["MAILYARD_DATA_DIR"] = data_dir
        if config:
            env["MAILYARD_CONFIG"] = config
        try:
            use_settings(load_settings(env))
        except SettingsError as e:
            raise click.ClickException(str(e)) from None

    return root


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
