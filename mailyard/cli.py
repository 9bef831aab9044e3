"""The `mailyard` command. Errors a user can cause end as one line and exit code 1."""

from __future__ import annotations

import os
import sys
import time

import click
from email_validator import EmailNotValidError, validate_email

from archive.importer import (
    check_mbox_files,
    count_messages,
    import_mbox_files,
    mbox_files_size,
)
from archive.importer import reindex as rebuild
from archive.lists import get_list
from archive.mbox import MboxFormat
from core.db import new_session
from core.settings import get_settings, secret_key
from lists.manage import ListError
from mailyard import wiring
from mailyard.celery_app import app as celery_app  # noqa: F401  the app the tasks run on
from mailyard.commands import ready_database
from mailyard.root import root_group, safe_url
from mailyard.serve import HTTP_LISTEN, check_can_listen, intake_listen_settings, serve_all
from mailyard.worker import run_worker
from mta.server import run_intake
from web.auth import login_link
from web.server import run_web

cli = root_group("cli", "Mailyard: mailing lists, archives and patch review driven by email.")


@cli.command()
def init() -> None:
    """Create the data directory and bring the database schema up to date."""
    ready_database()
    settings = get_settings()
    secret_key(settings)  # made here once, so no two processes start by making it
    click.echo(f"data in {settings.data_dir}, database {safe_url(settings.database_url)}")


@cli.command()
def serve() -> None:
    """Run everything in the foreground: SMTP/LMTP intake, the web UI and a worker.

    Ctrl-C stops all three cleanly.
    """
    ready_database()
    sys.exit(serve_all(get_settings()))


@cli.command()
def intake() -> None:
    """Run only the SMTP/LMTP intake (for scale-out deployments)."""
    settings = get_settings()
    check_can_listen(settings, intake_listen_settings(settings))
    ready_database()
    run_intake(settings, wiring.ADDRESS_KINDS)


@cli.command()
def web() -> None:
    """Run only the web UI and API under gunicorn."""
    settings = get_settings()
    check_can_listen(settings, [HTTP_LISTEN])
    secret_key(settings)  # made before gunicorn forks its workers
    run_web(settings, wiring.BLUEPRINTS)


@cli.command()
@click.option("--beat/--no-beat", default=True, help="Also run the periodic sweep.")
@click.option("--queues", default="celery", show_default=True, help="Queues to consume.")
def worker(beat: bool, queues: str) -> None:
    """Run a Celery worker (ingest, and later delivery and builds)."""
    run_worker(get_settings(), beat=beat, queues=queues)


jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Processes parsing mail beside the database writer.",
)


@cli.command(name="import-mbox")
@click.argument("list_name", metavar="LIST")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in MboxFormat]),
    default=MboxFormat.mboxrd.value,
    show_default=True,
    help="How messages are separated and '>From ' lines escaped in the files "
    "(mboxo-loose: any 'From ' line opening a mail header starts a message).",
)
@click.option(
    "--keep-glued",
    is_flag=True,
    help="Import messages that look glued into others as the separators say, instead of "
    "refusing the file.",
)
@jobs_option
def import_mbox(
    list_name: str, files: tuple[str, ...], fmt: str, keep_glued: bool, jobs: int
) -> None:
    """Import mbox FILES (.gz, .xz and .bz2 too) into LIST, skipping duplicates.

    Each file is read through first: one that is not an mbox, or whose messages look
    glued together under FORMAT, is refused before anything is imported."""
    ready_database()
    session = new_session()
    try:
        mlist = get_list(session, list_name)
        if mlist is None:
            raise ListError(f"no list named {list_name!r}; see `mailyard list ls`")
        started = time.perf_counter()
        glued = check_mbox_files(list(files), fmt, keep_glued)
        with click.progressbar(
            length=mbox_files_size(list(files)), label="importing", file=sys.stderr
        ) as bar:
            report = import_mbox_files(
                session, mlist, list(files), fmt, on_progress=bar.update, workers=jobs
            )
        elapsed = time.perf_counter() - started
    finally:
        session.close()
    rate = report.messages / elapsed if elapsed else 0.0
    click.echo(
        f"{report.messages} messages read: {report.imported} imported, "
        f"{report.duplicates} duplicates skipped, {report.problems} with parse problems; "
        f"{elapsed:.1f} s, {rate:.0f} messages/s"
    )
    if glued:
        click.echo(
            f"{glued} message(s) looked glued into others and were kept so "
            "(--keep-glued); --format mboxo-loose would have split them"
        )


@cli.command()
@jobs_option
def reindex(jobs: int) -> None:
    """Rebuild everything derived from the raw messages (threads, fields, search)."""
    ready_database()
    session = new_session()
    started = time.perf_counter()
    try:
        with click.progressbar(
            length=count_messages(session), label="reindexing", show_pos=True, file=sys.stderr
        ) as bar:
            n = rebuild(session, on_progress=bar.update, workers=jobs)
    finally:
        session.close()
    elapsed = time.perf_counter() - started
    click.echo(f"reindexed {n} messages in {elapsed:.1f} s")


@cli.command(name="login-link")
@click.argument("address")
def login_link_command(address: str) -> None:
    """Print a link that signs ADDRESS in on the web (valid one hour).

    Until Mailyard has accounts, this is how a list owner or a submitter gets to the
    status controls of a patchset."""
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise click.ClickException(f"{address}: {e}") from None
    click.echo(login_link(get_settings(), address))


for group in wiring.CLI_GROUPS:
    cli.add_command(group)


def main() -> None:
    cli(prog_name="mailyard")


if __name__ == "__main__":
    main()
