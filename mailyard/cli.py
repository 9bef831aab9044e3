"""The `mailyard` command. Errors a user can cause end as one line and exit code 1."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

import click
from sqlalchemy.exc import OperationalError

from mailyard.settings import SettingsError, get_settings, load_settings, use_settings


class MailyardGroup(click.Group):
    """Turns the errors a user can cause into one-line messages (the CLI's single place)."""

    def invoke(self, ctx: click.Context):
        from archive.lists import ListError
        from archive.search_query import SearchQueryError
        from mta.keys import KeyRefused
        from mta.subscriptions import SubscriptionError
        from patchsets.status import StatusRefused
        from trackers.export import ImportRefused
        from trackers.tickets import TrackerError

        try:
            return super().invoke(ctx)
        except (
            SettingsError,
            ListError,
            SearchQueryError,
            KeyRefused,
            StatusRefused,
            SubscriptionError,
            TrackerError,
            ImportRefused,
        ) as e:
            raise click.ClickException(str(e)) from None
        except OperationalError as e:
            raise click.ClickException(f"database error: {e.orig}") from None
        except FileNotFoundError as e:
            raise click.ClickException(f"{e.filename}: no such file") from None


@click.group(cls=MailyardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    envvar="MAILYARD_DATA_DIR",
    type=click.Path(file_okay=False),
    help="Where the embedded mode keeps everything (env MAILYARD_DATA_DIR).",
)
def cli(data_dir: str | None) -> None:
    """Mailyard: mailing lists, archives and patch review driven by email."""
    env = dict(os.environ)
    if data_dir:
        env["MAILYARD_DATA_DIR"] = data_dir
    try:
        use_settings(load_settings(env))
    except SettingsError as e:
        raise click.ClickException(str(e)) from None


def _ready_database() -> None:
    from mailyard.migrate import upgrade_database

    upgrade_database(get_settings())


@cli.command()
def init() -> None:
    """Create the data directory and bring the database schema up to date."""
    _ready_database()
    settings = get_settings()
    click.echo(f"data in {settings.data_dir}, database {_safe_url(settings.database_url)}")


@cli.command()
def serve() -> None:
    """Run everything in the foreground: SMTP/LMTP intake, the web UI and a worker.

    Ctrl-C stops all three cleanly.
    """
    from mailyard.serve import serve_all

    _ready_database()
    sys.exit(serve_all(get_settings()))


@cli.command()
def intake() -> None:
    """Run only the SMTP/LMTP intake (for scale-out deployments)."""
    from mta.server import run_intake

    _ready_database()
    run_intake(get_settings())


@cli.command()
def web() -> None:
    """Run only the web UI and API under gunicorn."""
    from web.server import run_web

    run_web(get_settings())


@cli.command()
@click.option("--beat/--no-beat", default=True, help="Also run the periodic sweep.")
@click.option("--queues", default="celery", show_default=True, help="Queues to consume.")
def worker(beat: bool, queues: str) -> None:
    """Run a Celery worker (ingest, and later delivery and builds)."""
    from mailyard.worker import run_worker

    run_worker(get_settings(), beat=beat, queues=queues)


@cli.group(name="list")
def list_group() -> None:
    """Create and show mailing lists."""


@list_group.command(name="create")
@click.argument("name")
@click.option("--owner", required=True, help="The list owner's email address.")
@click.option("--description", default="", help="One line shown on the web.")
def list_create(name: str, owner: str, description: str) -> None:
    """Create list NAME, reachable at NAME@DOMAIN and /NAME/ on the web."""
    from archive.lists import create_list
    from mailyard.db import session_scope

    _ready_database()
    with session_scope() as session:
        mlist = create_list(session, name, owner, description)
        click.echo(f"created {mlist.name}: post to {mlist.name}@{get_settings().domain}")


@list_group.command(name="ls")
def list_ls() -> None:
    """Show every list with its thread count and last activity."""
    from archive.lists import list_summaries
    from mailyard.db import session_scope

    _ready_database()
    domain = get_settings().domain
    with session_scope() as session:
        rows = list_summaries(session)
        if not rows:
            click.echo("no lists yet: create one with `mailyard list create NAME --owner EMAIL`")
        for mlist, threads, last in rows:
            when = last.strftime("%Y-%m-%d %H:%M") if last else "-"
            click.echo(
                f"{mlist.name}@{domain}\t{threads} threads\tlast {when}\t{mlist.description}"
            )


@list_group.command(name="subscribe")
@click.argument("list_name", metavar="LIST")
@click.argument("addresses", nargs=-1, required=True)
@click.option("--digest/--each", default=None, help="Daily digest, or every post (default).")
@click.option("--copy-self/--no-copy-self", default=None, help="Receive own posts (default).")
def list_subscribe(
    list_name: str, addresses: tuple[str, ...], digest: bool | None, copy_self: bool | None
) -> None:
    """Subscribe ADDRESSES to LIST without asking them to confirm, or change their options."""
    from mailyard.db import session_scope
    from mta.models import DeliveryMode
    from mta.subscriptions import subscribe

    delivery = None if digest is None else DeliveryMode.digest if digest else DeliveryMode.each
    _ready_database()
    with session_scope() as session:
        mlist = _existing_list(session, list_name)
        for address in addresses:
            sub = subscribe(session, mlist.id, address, delivery=delivery, copy_self=copy_self)
            click.echo(f"{sub.address}\t{sub.delivery.value}\tsubscribed to {mlist.name}")


@list_group.command(name="unsubscribe")
@click.argument("list_name", metavar="LIST")
@click.argument("addresses", nargs=-1, required=True)
def list_unsubscribe(list_name: str, addresses: tuple[str, ...]) -> None:
    """Unsubscribe ADDRESSES from LIST."""
    from mailyard.db import session_scope
    from mta.subscriptions import unsubscribe

    _ready_database()
    with session_scope() as session:
        mlist = _existing_list(session, list_name)
        for address in addresses:
            done = unsubscribe(session, mlist.id, address)
            click.echo(f"{address}\t" + ("unsubscribed" if done else "was not subscribed"))


@list_group.command(name="members")
@click.argument("list_name", metavar="LIST")
def list_members(list_name: str) -> None:
    """Show LIST's subscribers: address, status, delivery, bounce score."""
    from mailyard.db import session_scope
    from mta.subscriptions import members_page

    _ready_database()
    with session_scope() as session:
        mlist = _existing_list(session, list_name)
        after = 0
        while True:
            page = members_page(session, mlist.id, after_id=after, limit=500)
            for sub in page.members:
                self_copy = "copy-self" if sub.copy_self else "no-copy-self"
                click.echo(
                    f"{sub.address}\t{sub.status.value}\t{sub.delivery.value}"
                    f"\t{self_copy}\tbounces {sub.bounce_score:g}"
                )
            if page.next_after is None:
                break
            after = page.next_after


@list_group.command(name="set")
@click.argument("list_name", metavar="LIST")
@click.option("--subject-prefix", help="Tag subjects with [PREFIX]; '' for none (the default).")
@click.option("--footer", help="Text added at the end of every post; '' for none (the default).")
@click.option(
    "--dmarc",
    type=click.Choice(["auto", "none", "munge_from", "wrap"]),
    help="DMARC mitigation; auto (the default) munges From when the author's domain says"
    " p=reject or p=quarantine.",
)
@click.option(
    "--personalize/--no-personalize",
    default=None,
    help="VERP and one-click unsubscribe per subscriber (the default), or batched copies.",
)
@click.option("--bounce-threshold", type=click.FloatRange(min=1), help="Default 5.")
def list_set(list_name: str, **changes) -> None:
    """Change how LIST sends mail, and show the result."""
    from mailyard.db import session_scope
    from mta.subscriptions import list_delivery

    _ready_database()
    with session_scope() as session:
        options = list_delivery(session, _existing_list(session, list_name).id)
        if changes["dmarc"] is not None:
            changes["dmarc_mode"] = changes["dmarc"]
        for name in ("subject_prefix", "footer", "dmarc_mode", "personalize", "bounce_threshold"):
            if changes.get(name) is not None:
                setattr(options, name, changes[name])
        for name in ("subject_prefix", "footer", "dmarc_mode", "personalize", "bounce_threshold"):
            click.echo(f"{name.replace('_', '-')}\t{getattr(options, name)!r}")


@cli.group(name="tracker")
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

    _ready_database()
    with session_scope() as session:
        tracker = create_tracker(session, name, owner, description)
        click.echo(f"created {tracker.name}: report to {tracker.name}@{get_settings().domain}")


@tracker_group.command(name="ls")
def tracker_ls() -> None:
    """Show every tracker."""
    from mailyard.db import session_scope
    from trackers.tickets import all_trackers

    _ready_database()
    domain = get_settings().domain
    with session_scope() as session:
        for tracker in all_trackers(session):
            click.echo(
                f"{tracker.name}@{domain}\t{tracker.last_number} tickets\t{tracker.description}"
            )


@tracker_group.command(name="grant")
@click.argument("tracker_name", metavar="TRACKER")
@click.argument("address")
def tracker_grant(tracker_name: str, address: str) -> None:
    """Let ADDRESS triage TRACKER (use every email command), besides its owner."""
    from mailyard.db import session_scope
    from trackers.models import TrackerRole
    from trackers.tickets import grant

    _ready_database()
    with session_scope() as session:
        grant(session, _existing_tracker(session, tracker_name), address, TrackerRole.triage)
        click.echo(f"{address.lower()} may triage {tracker_name}")


@tracker_group.command(name="export")
@click.argument("tracker_name", metavar="TRACKER")
@click.argument("file", type=click.File("wb"))
def tracker_export(tracker_name: str, file) -> None:
    """Write TRACKER's tickets, comments, labels and events to FILE (gzip JSON, signed)."""
    from mailyard.db import session_scope
    from trackers.export import export_tracker, write_export

    _ready_database()
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

    _ready_database()
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


@cli.group(name="dkim")
def dkim_group() -> None:
    """The key that signs outgoing list mail."""


@dkim_group.command(name="genkey")
@click.option("--bits", type=click.Choice(["1024", "2048", "3072", "4096"]), default="2048")
@click.option("--force", is_flag=True, help="Replace an existing key.")
def dkim_genkey(bits: str, force: bool) -> None:
    """Make the signing key (MAILYARD_DKIM_KEY_FILE) and print the DNS record to publish."""
    from pathlib import Path

    from mta.dkim_sign import dns_record, dns_record_name, generate_key

    settings = get_settings()
    path = Path(settings.dkim_key_file)
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = generate_key(int(bits))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    name = dns_record_name(settings.dkim_selector, settings.domain.lower())
    click.echo(f"wrote {path}; publish this TXT record, then outgoing list mail is signed:")
    record = dns_record(pem)  # zone files take at most 255 characters per string
    strings = " ".join(f'"{record[i : i + 250]}"' for i in range(0, len(record), 250))
    click.echo(f"{name}. IN TXT ( {strings} )")


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
    type=click.Choice(["mboxrd", "mboxo"]),
    default="mboxrd",
    show_default=True,
    help="How '>From ' lines are escaped in the files.",
)
@jobs_option
def import_mbox(list_name: str, files: tuple[str, ...], fmt: str, jobs: int) -> None:
    """Import mbox FILES (.gz, .xz and .bz2 too) into LIST, skipping duplicates."""
    from archive.importer import import_mbox_files, mbox_files_size
    from archive.lists import ListError, get_list
    from mailyard.db import new_session

    _ready_database()
    session = new_session()
    try:
        mlist = get_list(session, list_name)
        if mlist is None:
            raise ListError(f"no list named {list_name!r}; see `mailyard list ls`")
        started = time.perf_counter()
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


@cli.command()
@jobs_option
def reindex(jobs: int) -> None:
    """Rebuild everything derived from the raw messages (threads, fields, search)."""
    from archive.importer import count_messages
    from archive.importer import reindex as rebuild
    from mailyard.db import new_session

    _ready_database()
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
    from email_validator import EmailNotValidError, validate_email

    from web.auth import login_link

    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise click.ClickException(f"{address}: {e}") from None
    click.echo(login_link(get_settings(), address))


@cli.group(name="key")
def key_group() -> None:
    """Register the OpenPGP keys whose signatures authenticate an address's mail."""


@key_group.command(name="add")
@click.argument("address")
@click.argument("key_file", type=click.File("r"))
def key_add(address: str, key_file) -> None:
    """Register the public key in KEY_FILE (armored; '-' for stdin) for ADDRESS."""
    from mailyard.db import session_scope
    from mta.keys import add_pgp_key

    _ready_database()
    with session_scope() as session:
        key = add_pgp_key(session, address, key_file.read())
        click.echo(f"registered {key.fingerprint} for {key.address}")


@key_group.command(name="ls")
@click.argument("address")
def key_ls(address: str) -> None:
    """Show the keys registered for ADDRESS."""
    from mailyard.db import session_scope
    from mta.keys import registered_key_rows

    _ready_database()
    with session_scope() as session:
        rows = registered_key_rows(session, address)
        if not rows:
            click.echo(f"no keys registered for {address}")
        for row in rows:
            click.echo(f"{row.fingerprint}\t{row.address}\tadded {row.added_at:%Y-%m-%d}")


@cli.group(name="patchset")
def patchset_group() -> None:
    """Show patchsets and change their status."""


@patchset_group.command(name="ls")
@click.argument("list_name", metavar="LIST")
@click.option("--status", default=None, help="Only patchsets with this status.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def patchset_ls(list_name: str, status: str | None, limit: int) -> None:
    """The newest patchsets of LIST."""
    from mailyard.db import session_scope
    from patchsets.queries import patchsets_page
    from patchsets.status import parse_status

    _ready_database()
    with session_scope() as session:
        mlist = _existing_list(session, list_name)
        wanted = parse_status(status) if status else None
        for p in patchsets_page(session, mlist.id, status=wanted, limit=limit):
            size = f"{p.patch_count}/{p.total}"
            click.echo(f"{p.id}\tv{p.version}\t{size}\t{p.status.value}\t{p.name}")


@patchset_group.command(name="status")
@click.argument("list_name", metavar="LIST")
@click.argument("patchset_id", metavar="ID", type=int)
@click.argument("status")
def patchset_status(list_name: str, patchset_id: int, status: str) -> None:
    """Set the status of patchset ID of LIST, as its list owner."""
    from patchsets.status import change_status, parse_status

    wanted = parse_status(status)
    with _owned_patchset(list_name, patchset_id) as (session, mlist, patchset):
        changed = change_status(
            session, mlist, patchset, wanted, actor=mlist.owner_email, via="cli"
        )
        click.echo(f"patchset {patchset.id}: {wanted.value}" + ("" if changed else " (already)"))


@patchset_group.command(name="rename")
@click.argument("list_name", metavar="LIST")
@click.argument("patchset_id", metavar="ID", type=int)
@click.argument("name")
def patchset_rename(list_name: str, patchset_id: int, name: str) -> None:
    """Name patchset ID of LIST, as its list owner; later mail keeps the name."""
    from patchsets.status import rename_patchset

    with _owned_patchset(list_name, patchset_id) as (session, mlist, patchset):
        rename_patchset(session, mlist, patchset, name, actor=mlist.owner_email)
        click.echo(f"patchset {patchset.id}: {patchset.name}")


@contextmanager
def _owned_patchset(list_name: str, patchset_id: int):
    """(session, list, patchset) for a change the operator makes as the list owner; the
    session commits when the block ends without an error."""
    from mailyard.db import session_scope
    from patchsets.queries import get_patchset

    _ready_database()
    with session_scope() as session:
        mlist = _existing_list(session, list_name)
        patchset = get_patchset(session, patchset_id, mlist.name)
        if patchset is None:
            raise click.ClickException(f"{list_name} has no patchset {patchset_id}")
        yield session, mlist, patchset


def _existing_list(session, name: str):
    from archive.lists import get_list

    mlist = get_list(session, name)
    if mlist is None:
        raise click.ClickException(f"no list named {name!r}")
    return mlist


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    cli(prog_name="mailyard")


if __name__ == "__main__":
    main()
