"""A contributor's real workflow against a real `mailyard serve`: `git send-email` a
series, review it by mail, send a v2 with `--cover-letter -v2`; the v2 supersedes the v1
on its own, and the served mbox, `b4 am` and `b4 shazam` give back the commits."""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.models import Message
from core.db import new_session
from patchsets.models import Patchset, PatchsetStatus
from tests.e2e.test_mail_in_archive_out import (
    LIST,
    git,
    git_has_send_email,
    make_repo,
    send_series,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not git_has_send_email(), reason="git send-email missing (git-email)"),
]


def patchsets(settings) -> list[Patchset]:
    with new_session(settings) as s:
        rows = s.scalars(select(Patchset).order_by(Patchset.id)).all()
        for row in rows:
            row.patches  # load before the session closes  # noqa: B018
        return rows


def wait_for_patchsets(served, settings, want):
    return served.wait_until(
        lambda: (rows := patchsets(settings)) and want(rows) and rows,
        what="patchsets filed",
    )


def commits(repo: Path, n: int) -> list[str]:
    """Author and message of the last n commits. Not the date: git send-email dates each
    mail when it sends it, and git am takes that date."""
    return git(repo, "log", f"-{n}", "--format=%an <%ae>%n%B%n---").split("\n---\n")


@pytest.fixture
def sent(served, settings, tmp_path):
    """v1 sent, reviewed, then v2 sent: (repo, v1, v2)."""
    repo = make_repo(tmp_path)
    send_series(served, repo, tmp_path / "v1", "-2", subject="Add two files")
    (v1,) = wait_for_patchsets(
        served, settings, lambda rows: len(rows) == 1 and rows[0].received_all
    )
    # v2: the second commit changes; the series is sent again with a version.
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    (repo / "file2.txt").write_text("content 2, better\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add file 2\n\nBecause file 2 is needed.")
    send_series(served, repo, tmp_path / "v2", "-v2", "-2", subject="Add two files")
    rows = wait_for_patchsets(
        served,
        settings,
        lambda rows: len(rows) == 2 and rows[1].previous_id is not None and rows[1].received_all,
    )
    return repo, rows[0], rows[1]


def test_v2_sent_with_git_send_email_supersedes_v1(sent):
    _, v1, v2 = sent
    assert (v1.version, v2.version) == (1, 2)
    assert v2.previous_id == v1.id
    assert v1.status is PatchsetStatus.superseded
    assert v2.status is PatchsetStatus.proposed
    assert v2.name == "Add two files" and v2.patch_count == 2 and v2.received_all


def review(served, patch_msgid: str) -> None:
    reply = (
        "From: Bob Reviewer <bob@example.com>\r\n"
        f"To: {LIST}\r\nSubject: Re: [PATCH v2 1/2] Add file 1\r\n"
        "Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <review-1@example.com>\r\n"
        f"In-Reply-To: <{patch_msgid}>\r\nReferences: <{patch_msgid}>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "> Because file 1 is needed.\r\n\r\nReviewed-by: Bob Reviewer <bob@example.com>\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", served.smtp_port, timeout=20) as smtp:
        smtp.sendmail("bob@example.com", [LIST], reply)


def test_served_mbox_applies_with_git_am_and_carries_the_review(sent, served, settings, tmp_path):
    repo, _, v2 = sent
    first = min(v2.patches, key=lambda p: p.position)
    review(served, first.message_id)
    served.wait_until(
        lambda: b"Reviewed-by: Bob" in served.get(f"/dev/patches/{v2.id}/mbox")[2],
        what="the review's trailer in the mbox",
    )
    status, headers, mbox = served.get(f"/dev/patches/{v2.id}/mbox")
    assert status == 200
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "reset", "-q", "--hard", "HEAD~2")
    (tmp_path / "v2.mbox").write_bytes(mbox)
    git(clone, "am", "-q", str(tmp_path / "v2.mbox"))
    got, original = commits(clone, 2), commits(repo, 2)
    # Patch 1 gained the review and a Link; both kept their author and message.
    assert got[1].startswith(original[1].rstrip("\n"))
    assert "Reviewed-by: Bob Reviewer <bob@example.com>" in got[1]
    assert f"Link: {served.base_url}/dev/{first.message_id}/" in got[1]
    assert got[0].startswith(original[0].rstrip("\n"))
    assert git(clone, "rev-parse", "HEAD^{tree}") == git(repo, "rev-parse", "HEAD^{tree}")


def run_b4(served, tmp_path: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    config = home / ".gitconfig"
    config.write_text(
        f"[b4]\n\tmidmask = {served.base_url}/dev/%s\n\tlinkmask = {served.base_url}/dev/%s\n"
        f"\tsearchmask = {served.base_url}/all/?x=m&t=1&q=%s\n"
        "[user]\n\tname = Mai Ntainer\n\temail = mai@example.org\n"
    )
    env = dict(
        os.environ,
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(config),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
    )
    return subprocess.run(
        ["b4", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(not shutil.which("b4"), reason="b4 is not installed (apt-get install b4)")
def test_b4_am_and_shazam_apply_the_newest_version(sent, served, settings, tmp_path):
    repo, _, v2 = sent
    with new_session(settings) as s:
        cover = s.get(Message, v2.cover_message_pk).message_id
    out = tmp_path / "b4out"
    out.mkdir()
    result = run_b4(served, tmp_path, tmp_path, "am", "-o", str(out), cover)
    assert result.returncode == 0, result.stdout + result.stderr
    (mbx,) = out.glob("*.mbx")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "reset", "-q", "--hard", "HEAD~2")
    git(clone, "am", "-q", str(mbx))
    assert git(clone, "rev-parse", "HEAD^{tree}") == git(repo, "rev-parse", "HEAD^{tree}")

    shazam = tmp_path / "shazam"
    subprocess.run(["git", "clone", "-q", str(repo), str(shazam)], check=True)
    git(shazam, "reset", "-q", "--hard", "HEAD~2")
    result = run_b4(served, tmp_path, shazam, "shazam", cover)
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(shazam, "rev-parse", "HEAD^{tree}") == git(repo, "rev-parse", "HEAD^{tree}")
    assert git(shazam, "log", "-2", "--format=%s").splitlines() == ["Add file 2", "Add file 1"]
