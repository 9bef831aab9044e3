"""Real mail from real tools into a real `mailyard serve`, read back through the web."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import smtplib
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.models import Message, MessageStatus
from core.db import new_session
from tests.served import ServedMailyard

pytestmark = pytest.mark.e2e

LIST = "dev@lists.example.org"


def archived(settings, msgid: str) -> Message | None:
    with new_session(settings) as s:
        return s.scalar(
            select(Message).where(
                Message.message_id == msgid, Message.status == MessageStatus.archived
            )
        )


def plain_mail(msgid: str, subject: str = "hello", body: str = "Hello, list.\n") -> bytes:
    return (
        (
            f"From: Ada Lovelace <ada@example.com>\r\nTo: {LIST}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <{msgid}>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
        )
        .replace("\r\n", "\n")
        .replace("\n", "\r\n")
        .encode()
    )


@pytest.mark.skipif(
    not shutil.which("swaks"), reason="swaks is not installed (apt-get install swaks)"
)
def test_swaks_message_is_archived_and_raw_returns_the_exact_bytes(served, settings, tmp_path):
    raw = plain_mail("swaks-1@example.com", "first post", "Hi all,\r\n\r\n> quoted\r\nbye\r\n")
    data = tmp_path / "mail.eml"
    data.write_bytes(raw)
    result = subprocess.run(
        [
            "swaks",
            "--server",
            f"127.0.0.1:{served.smtp_port}",
            "--to",
            LIST,
            "--from",
            "ada@example.com",
            "--data",
            f"@{data}",
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250" in result.stdout
    served.wait_until(lambda: archived(settings, "swaks-1@example.com"), what="ingest")

    status, headers, body = served.get("/dev/swaks-1@example.com/raw")
    assert status == 200
    # Exactly what crossed the wire between DATA and the final '.': swaks ends its
    # data with one more CRLF of its own.
    assert body == raw + b"\r\n"
    status, _, page = served.get("/dev/")
    assert status == 200 and b"first post" in page
    status, _, page = served.get("/dev/swaks-1@example.com/")
    assert status == 200 and b"Hi all," in page


def git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="Ada Lovelace",
        GIT_AUTHOR_EMAIL="ada@example.com",
        GIT_COMMITTER_NAME="Ada Lovelace",
        GIT_COMMITTER_EMAIL="ada@example.com",
        HOME=str(repo.parent),
        GIT_CONFIG_NOSYSTEM="1",
    )
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def make_repo(tmp_path: Path, commits: int = 2) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("hello\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "Initial commit")
    for i in range(1, commits + 1):
        (repo / f"file{i}.txt").write_text(f"content {i}\n")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", f"Add file {i}\n\nBecause file {i} is needed.")
    return repo


def git_has_send_email() -> bool:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout
    return (Path(exec_path.strip()) / "git-send-email").exists()


def send_series(served, repo: Path, outdir: Path, *format_args: str, subject: str) -> None:
    """`git format-patch --cover-letter` (the cover letter filled in, as git insists),
    then `git send-email` of the whole series to the served list."""
    git(repo, "format-patch", "-q", "--cover-letter", *format_args, "-o", str(outdir))
    cover = next(outdir.glob("*0000-*"))
    cover.write_text(
        cover.read_text()
        .replace("*** SUBJECT HERE ***", subject)
        .replace("*** BLURB HERE ***", "Two files, one per patch.")
    )
    git(
        repo,
        "send-email",
        "--quiet",
        "--confirm=never",
        "--suppress-cc=all",
        "--smtp-server=127.0.0.1",
        f"--smtp-server-port={served.smtp_port}",
        f"--to={LIST}",
        "--from=Ada Lovelace <ada@example.com>",
        *sorted(str(p) for p in outdir.iterdir()),
    )


@pytest.mark.skipif(
    not git_has_send_email(), reason="git send-email missing (apt-get install git-email)"
)
def test_git_send_email_series_is_one_thread_downloadable_as_mbox(served, settings, tmp_path):
    repo = make_repo(tmp_path)
    send_series(served, repo, tmp_path / "outgoing", "-2", subject="Add two files")

    def all_archived():
        with new_session(settings) as s:
            rows = s.scalars(select(Message).order_by(Message.id)).all()
            return (
                rows
                if len(rows) == 3 and all(m.status is MessageStatus.archived for m in rows)
                else None
            )

    messages = served.wait_until(all_archived, what="three messages archived")
    cover = next(m for m in messages if "0/2" in m.subject)
    status, _, page = served.get(f"/dev/{cover.message_id}/T/")
    assert status == 200
    for m in messages:
        assert m.subject.encode() in page
    status, headers, body = served.get(f"/dev/{cover.message_id}/t.mbox.gz")
    assert status == 200
    mbox = gzip.decompress(body)
    assert mbox.count(b"\nFrom ") + mbox.startswith(b"From ") == 3
    # git am applies the two patches from the thread's mbox.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "reset", "-q", "--hard", "HEAD~2")
    (tmp_path / "t.mbox").write_bytes(mbox)
    # The cover letter comes first and has no diff: git am drops it.
    git(clone, "am", "-q", "--empty=drop", "--patch-format=mboxrd", str(tmp_path / "t.mbox"))
    assert git(clone, "log", "--format=%s", "-2").splitlines() == ["Add file 2", "Add file 1"]


@pytest.mark.skipif(not shutil.which("b4"), reason="b4 is not installed (apt-get install b4)")
def test_b4_mbox_fetches_the_thread(served, settings, tmp_path):
    with smtplib.SMTP("127.0.0.1", served.smtp_port, timeout=20) as smtp:
        smtp.sendmail("ada@example.com", [LIST], plain_mail("b4-root@example.com", "b4 topic"))
        reply = plain_mail("b4-reply@example.com", "Re: b4 topic").replace(
            b"Message-ID: <b4-reply@example.com>\r\n",
            b"Message-ID: <b4-reply@example.com>\r\nIn-Reply-To: <b4-root@example.com>\r\n",
        )
        smtp.sendmail("bob@example.com", [LIST], reply)
    served.wait_until(lambda: archived(settings, "b4-reply@example.com"), what="ingest")
    home = tmp_path / "home"
    home.mkdir()
    config = home / ".gitconfig"
    config.write_text(
        f"[b4]\n\tmidmask = {served.base_url}/dev/%s\n\tlinkmask = {served.base_url}/dev/%s\n"
    )
    env = dict(
        os.environ,
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(config),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        ["b4", "mbox", "-C", "-o", str(out), "b4-root@example.com"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    files = list(out.iterdir())
    assert len(files) == 1
    text = files[0].read_bytes()
    assert b"b4-root@example.com" in text and b"b4-reply@example.com" in text


def test_ctrl_c_stops_every_part_cleanly(served):
    assert served.stop(signal.SIGINT) == 0
    for port in (served.smtp_port, served.http_port):
        with pytest.raises(OSError):
            import socket

            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


class RetryingSender:
    """Sends numbered messages one by one, retrying on 4xx and on lost connections, the
    way an MTA does; records which messages got a 250."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.accepted: list[str] = []
        self.retries = 0

    def run(self) -> None:
        smtp = None
        deadline = time.monotonic() + 120
        for i in range(self.count):
            msgid = f"durable-{i}@example.com"
            while time.monotonic() < deadline:
                try:
                    if smtp is None:
                        smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                    smtp.sendmail("ada@example.com", [LIST], plain_mail(msgid, f"message {i}"))
                    self.accepted.append(msgid)
                    break
                except (smtplib.SMTPException, OSError):
                    self.retries += 1
                    try:
                        if smtp is not None:
                            smtp.close()
                    except OSError:
                        pass
                    smtp = None
                    time.sleep(0.05)
        if smtp is not None:
            smtp.close()


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_that_got_250(served, settings):
    sender = RetryingSender(served.smtp_port, 300)
    thread = threading.Thread(target=sender.run)
    thread.start()
    while len(sender.accepted) < 100 and thread.is_alive():
        time.sleep(0.01)
    served.kill()
    time.sleep(0.5)
    restarted = ServedMailyard(settings, smtp_port=served.smtp_port, http_port=served.http_port)
    restarted.start()
    try:
        thread.join(timeout=150)
        assert not thread.is_alive()
        assert len(sender.accepted) == 300
        assert sender.retries > 0

        def all_archived():
            with new_session(settings) as s:
                n = s.scalar(
                    select(func.count(Message.id)).where(Message.status == MessageStatus.archived)
                )
                return n == 300

        restarted.wait_until(all_archived, timeout=120, what="all 300 archived")
        with new_session(settings) as s:
            ids = list(s.scalars(select(Message.message_id)))
        assert sorted(ids) == sorted(sender.accepted)  # each exactly once
    finally:
        restarted.stop()
