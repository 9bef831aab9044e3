"""`mailyard import-mbox` refuses files it would import wrongly, before storing anything:
a file that is not an mbox, and messages glued together by separators the chosen format
does not see (what Python's mailbox.mbox and patchew write); `--format mboxo-loose`
splits those."""

from __future__ import annotations

import gzip

import pytest
from sqlalchemy import func, select

from archive.mbox import mboxrd_entry
from archive.models import Message
from core.db import new_session
from tests.cli_runner import MailyardCli


@pytest.fixture
def run(settings) -> MailyardCli:
    cli = MailyardCli(settings)
    out = cli("list", "create", "dev", "--owner", "o@example.org")
    assert out.returncode == 0, out.stderr
    return cli


def stored(settings) -> int:
    with new_session(settings) as s:
        return s.scalar(select(func.count(Message.id))) or 0


def mail(n: int) -> bytes:
    return (
        f"From: A <a@example.com>\nTo: dev@lists.example.org\nSubject: message {n}\n"
        f"Message-ID: <m{n}@example.com>\nDate: Mon, 02 Mar 2026 10:0{n}:00 +0000\n\nbody {n}\n"
    ).encode()


# Three messages with the separators mailbox.mbox and patchew write: a bare 'From A',
# and 'From nobody ...' right after a body line.
LOOSE = (
    b"From MAILER-DAEMON Thu Dec  3 12:57:26 2026\n"
    + mail(1)
    + b"\nFrom A\n"
    + mail(2)
    + b"From nobody Thu Dec  3 12:57:26 2026\n"
    + mail(3)
)


def one_line_error(out) -> str:
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    return out.stderr


@pytest.mark.parametrize("fmt", ["mboxrd", "mboxo"])
def test_glued_messages_are_refused_with_the_format_that_splits_them(run, settings, tmp_path, fmt):
    path = tmp_path / "loose.mbox"
    path.write_bytes(LOOSE)
    error = one_line_error(run("import-mbox", "dev", str(path), "--format", fmt))
    assert "2 message(s) look glued" in error and "--format mboxo-loose" in error
    assert stored(settings) == 0


def test_mboxo_loose_splits_every_message(run, settings, tmp_path):
    path = tmp_path / "loose.mbox"
    path.write_bytes(LOOSE)
    out = run("import-mbox", "dev", str(path), "--format", "mboxo-loose", "-j", "1")
    assert out.returncode == 0, out.stderr
    assert "3 messages read: 3 imported" in out.stdout
    with new_session(settings) as s:
        bodies = {mid: body for mid, body in s.execute(select(Message.message_id, Message.body))}
    assert bodies == {f"m{n}@example.com": f"body {n}\n" for n in (1, 2, 3)}


def test_keep_glued_imports_as_the_separators_say_and_says_so(run, settings, tmp_path):
    path = tmp_path / "loose.mbox"
    path.write_bytes(LOOSE)
    out = run("import-mbox", "dev", str(path), "--keep-glued", "-j", "1")
    assert out.returncode == 0, out.stderr
    assert "1 messages read: 1 imported" in out.stdout
    assert "2 message(s) looked glued" in out.stdout
    assert stored(settings) == 1


def test_a_strict_mbox_imports_as_before(run, tmp_path):
    path = tmp_path / "a.mbox.gz"
    path.write_bytes(gzip.compress(b"".join(mboxrd_entry(mail(n)) for n in range(3))))
    out = run("import-mbox", "dev", str(path), "-j", "1")
    assert out.returncode == 0, out.stderr
    assert "3 messages read: 3 imported" in out.stdout and "glued" not in out.stdout


@pytest.mark.parametrize(
    "content, message",
    [
        (b"root:x:0:0:root:/root:/bin/bash\nbin:x:1:1:bin:/bin:/sbin/nologin\n", "not an mbox"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not an mbox"),
        (b"\x1f\x8b\x08\x00broken gzip", "cannot be read"),
    ],
)
def test_a_file_that_is_not_an_mbox_is_refused(run, settings, tmp_path, content, message):
    good = tmp_path / "good.mbox"
    good.write_bytes(mboxrd_entry(mail(1)))
    bad = tmp_path / "passwd"
    bad.write_bytes(content)
    error = one_line_error(run("import-mbox", "dev", str(good), str(bad)))
    assert message in error and str(bad) in error
    assert stored(settings) == 0  # not even the good file: nothing half imported


def test_etc_passwd_is_refused(run, settings):
    error = one_line_error(run("import-mbox", "dev", "/etc/passwd"))
    assert "/etc/passwd: not an mbox" in error
    assert stored(settings) == 0
