"""The `mailyard` command as a user runs it, one-line errors: in-process
(tests/cli_runner.py), and in real processes for the installed entry point and for
`import-mbox` with parser processes (a fork pool, not to be forked from pytest)."""

from __future__ import annotations

import gzip
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from archive.mbox import mboxrd_entry
from mailyard.cli import cli
from tests.cli_runner import MailyardCli
from tests.served import ServedMailyard


@pytest.fixture
def run(settings) -> MailyardCli:
    return MailyardCli(settings)


@pytest.fixture
def run_process(settings):
    server = ServedMailyard(settings)

    def run_cli(*args: str) -> subprocess.CompletedProcess:
        return server.cli(*args, check=False)

    return run_cli


def mail(n: int) -> bytes:
    return (
        f"From: A <a@example.com>\nTo: dev@lists.example.org\nSubject: message {n}\n"
        f"Message-ID: <m{n}@example.com>\nDate: Mon, 02 Mar 2026 10:0{n % 10}:00 +0000\n\n"
        f"From the start, body {n}.\n"
    ).encode()


def every_command(group: click.Group, path: tuple[str, ...] = ()):
    """Every command path under `group`, the group itself first."""
    yield path
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from every_command(command, (*path, name))
        else:
            yield (*path, name)


def test_every_command_has_help():
    """Walked from the command tree, so a new command is covered without listing it;
    in-process, with one real run of the installed entry point."""
    paths = list(every_command(cli))
    assert ("user", "create") in paths and ("project", "link") in paths
    runner = CliRunner()
    for args in paths:
        out = runner.invoke(cli, [*args, "--help"], prog_name="mailyard")
        assert out.exit_code == 0, (args, out.output)
        assert "Usage: mailyard" in out.output
    out = subprocess.run(
        [sys.executable, "-m", "mailyard.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "Usage: mailyard" in out.stdout, out.stderr


def test_list_create_and_ls(run):
    out = run("list", "create", "dev", "--owner", "owner@example.org", "--description", "Dev")
    assert out.returncode == 0, out.stderr
    assert "dev@lists.example.org" in out.stdout
    out = run("list", "ls")
    assert "dev@lists.example.org" in out.stdout and "Dev" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["list", "create", "Bad Name!", "--owner", "o@example.org"], "invalid list name"),
        (["list", "create", "dev", "--owner", "not-an-address"], "invalid owner address"),
        (["import-mbox", "nosuchlist", __file__], "no list named 'nosuchlist'"),
        (["patchset", "ls", "nosuchlist"], "no list named 'nosuchlist'"),
        (["login-link", "not-an-address"], "not-an-address"),
        (["key", "add", "a@example.org", __file__], "not an armored OpenPGP public key"),
        (["list", "subscribe", "nosuchlist", "a@example.org"], "no list named 'nosuchlist'"),
        (["list", "members", "nosuchlist"], "no list named 'nosuchlist'"),
    ],
)
def test_bad_arguments_get_one_line_not_a_traceback(run, args, message):
    out = run(*args)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_duplicate_list_is_refused(run):
    run("list", "create", "dev", "--owner", "o@example.org")
    out = run("list", "create", "dev", "--owner", "o@example.org")
    assert out.returncode == 1 and "already exists" in out.stderr


def test_import_mbox_counts_duplicates_and_reports_rate(run_process, tmp_path):
    run = run_process
    run("list", "create", "dev", "--owner", "o@example.org")
    plain = tmp_path / "a.mbox"
    plain.write_bytes(b"".join(mboxrd_entry(mail(n)) for n in range(5)))
    packed = tmp_path / "b.mbox.gz"
    packed.write_bytes(gzip.compress(b"".join(mboxrd_entry(mail(n)) for n in range(3, 8))))
    out = run("import-mbox", "dev", str(plain), str(packed), "-j", "1")
    assert out.returncode == 0, out.stderr
    assert "10 messages read: 8 imported, 2 duplicates skipped" in out.stdout
    assert "messages/s" in out.stdout
    again = run("import-mbox", "dev", str(plain))
    assert "5 messages read: 0 imported, 5 duplicates skipped" in again.stdout


def test_reindex_rebuilds_from_raw(run, tmp_path, settings):
    from sqlalchemy import func, select

    from archive.models import Message, MessageStatus, Thread
    from core.db import new_session

    run("list", "create", "dev", "--owner", "o@example.org")
    path = tmp_path / "a.mbox"
    path.write_bytes(b"".join(mboxrd_entry(mail(n)) for n in range(4)))
    run("import-mbox", "dev", str(path), "-j", "1")
    out = run("reindex", "-j", "1")
    assert out.returncode == 0, out.stderr
    assert "reindexed 4 messages" in out.stdout
    with new_session(settings) as s:
        assert s.scalar(select(func.count(Thread.id))) == 4
        assert (
            s.scalar(select(func.count(Message.id)).where(Message.status == MessageStatus.archived))
            == 4
        )
        body = s.scalar(select(Message.body).where(Message.message_id == "m1@example.com"))
        assert body.startswith("From the start")


PATCH = (
    "From: Ada <ada@example.com>\nTo: dev@lists.example.org\nSubject: [PATCH] add a file\n"
    "Message-ID: <p1@example.com>\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n\nAdd it.\n---\n"
    "diff --git a/f b/f\nnew file mode 100644\nindex 0000000..ce01362\n--- /dev/null\n"
    "+++ b/f\n@@ -0,0 +1 @@\n+hello\n"
)


def test_patchset_ls_status_and_rename(run, run_process, tmp_path):
    run("list", "create", "dev", "--owner", "owner@example.org")
    (tmp_path / "p.mbox").write_bytes(mboxrd_entry(PATCH.encode()))
    assert run_process("import-mbox", "dev", str(tmp_path / "p.mbox")).returncode == 0
    out = run("patchset", "ls", "dev")
    assert out.stdout.split("\t")[:4] == ["1", "v1", "1/1", "proposed"], out.stdout
    out = run("patchset", "status", "dev", "1", "needs-revision")
    assert out.returncode == 0 and "needs_revision" in out.stdout
    out = run("patchset", "status", "dev", "1", "merged")
    assert out.returncode == 1 and "unknown status 'merged'" in out.stderr
    out = run("patchset", "rename", "dev", "1", "A better name")
    assert "A better name" in run("patchset", "ls", "dev", "--status", "needs_revision").stdout
    assert run("patchset", "status", "dev", "9", "approved").returncode == 1


def test_login_link_is_signed_for_the_address(run, settings):
    from itsdangerous import URLSafeTimedSerializer

    from core.settings import secret_key

    out = run("login-link", "Owner@Example.org")
    assert out.returncode == 0
    link = out.stdout.strip()
    assert "/login/" in link
    token = link.rsplit("/", 1)[1]
    address, _nonce = URLSafeTimedSerializer(secret_key(settings), salt="login").loads(token)
    assert address.lower() == "owner@example.org"


def test_list_subscribe_members_set_and_unsubscribe(run):
    run("list", "create", "dev", "--owner", "o@example.org")
    out = run("list", "subscribe", "dev", "Bob@Example.NET", "carol@example.org", "--digest")
    assert out.returncode == 0, out.stderr
    out = run("list", "members", "dev")
    assert out.stdout.splitlines() == [
        "Bob@example.net\tactive\tdigest\tcopy-self\tbounces 0",
        "carol@example.org\tactive\tdigest\tcopy-self\tbounces 0",
    ]
    run("list", "subscribe", "dev", "bob@example.net", "--each", "--no-copy-self")
    assert (
        "bob@example.net\tactive\teach\tno-copy-self"
        in run("list", "members", "dev").stdout.lower()
    )
    out = run("list", "unsubscribe", "dev", "BOB@example.net", "nobody@example.org")
    assert out.stdout.splitlines() == [
        "BOB@example.net\tunsubscribed",
        "nobody@example.org\twas not subscribed",
    ]
    out = run("list", "set", "dev", "--subject-prefix", "dev", "--dmarc", "munge_from")
    assert "subject-prefix\t'dev'" in out.stdout and "dmarc-mode\t'munge_from'" in out.stdout
    out = run("list", "subscribe", "dev", "not an address")
    assert out.returncode == 1 and "invalid address" in out.stderr
    assert "Traceback" not in out.stderr


def test_dkim_genkey_writes_the_key_once_and_prints_the_record(run, settings):
    out = run("dkim", "genkey", "--bits", "1024")
    assert out.returncode == 0, out.stderr
    assert "mailyard._domainkey.lists.example.org. IN TXT" in out.stdout
    assert '"v=DKIM1; k=rsa; p=' in out.stdout
    key = settings.data_dir / "dkim.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    again = run("dkim", "genkey")
    assert again.returncode == 1 and "--force" in again.stderr


def test_tracker_create_export_and_import(run, tmp_path, settings):
    from core.db import new_session
    from trackers.tickets import Origin, get_tracker, open_ticket

    assert run("tracker", "create", "bugs", "--owner", "o@example.org").returncode == 0
    assert run("tracker", "create", "other", "--owner", "o@example.org").returncode == 0
    with new_session(settings) as session:
        tracker = get_tracker(session, "bugs")
        open_ticket(
            session,
            tracker,
            "It breaks",
            "Steps: ...",
            Origin("a@example.com", authenticated="dkim"),
        )
        session.commit()
    out = run("tracker", "export", "bugs", str(tmp_path / "bugs.json.gz"))
    assert out.returncode == 0 and "exported 1 tickets" in out.stdout, out.stderr
    out = run("tracker", "import", "other", str(tmp_path / "bugs.json.gz"))
    assert out.returncode == 0 and "1 authentic" in out.stdout, out.stderr
    again = run("tracker", "import", "other", str(tmp_path / "bugs.json.gz"))
    assert again.returncode == 1 and "not empty" in again.stderr and "Traceback" not in again.stderr
    (tmp_path / "junk").write_bytes(b"junk")
    junk = run("tracker", "import", "bugs", str(tmp_path / "junk"))
    assert junk.returncode == 1 and len(junk.stderr.strip().splitlines()) == 1
