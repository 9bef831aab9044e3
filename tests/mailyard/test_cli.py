"""The `mailyard` command as a user runs it: real processes, one-line errors."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest

from archive.mbox import mboxrd_entry
from tests.served import ServedMailyard


@pytest.fixture
def run(settings):
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


def test_every_command_has_help():
    commands = [
        [],
        ["serve"],
        ["init"],
        ["intake"],
        ["web"],
        ["worker"],
        ["list"],
        ["list", "create"],
        ["list", "ls"],
        ["import-mbox"],
        ["reindex"],
    ]
    for args in commands:
        out = subprocess.run(
            [sys.executable, "-m", "mailyard.cli", *args, "--help"], capture_output=True, text=True
        )
        assert out.returncode == 0, (args, out.stderr)
        assert "Usage: mailyard" in out.stdout


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


def test_import_mbox_counts_duplicates_and_reports_rate(run, tmp_path):
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
    from mailyard.db import new_session

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
