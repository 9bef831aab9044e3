"""A maintainer applies a reviewed series from the web, in a real browser: the series is
sent with `git send-email` to a list linked to a hosted repository, a reviewer answers
with a Reviewed-by, the patchset page says it applies, one button applies it; the branch
moves, `git log` shows the collected trailer and the `Link:`, the patchset is applied,
and the "applied, thanks" mail reaches the relay sink in the thread."""

from __future__ import annotations

import smtplib
import subprocess
import time
from email import message_from_bytes

import pytest

from repos.storage import repository_path
from tests.e2e.test_mail_in_archive_out import git_has_send_email
from tests.repos.helpers import git, git_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not git_has_send_email(), reason="git send-email missing (git-email)"),
]

PASSWORD = "correct horse battery staple"
HELLO = "".join(f"line {i}\n" for i in range(1, 21))


def _wait_for(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_apply_a_reviewed_series_from_the_web(site, browser, shoot, sink, settings, tmp_path):
    domain = settings.domain
    site.cli("user", "create", "mia", "mia@example.org", "--password-stdin", input=PASSWORD)
    site.cli("list", "create", "dev", "--owner", "mia@example.org")
    site.cli("repo", "create", "~mia/tool")
    site.cli("list", "set", "dev", "--repo", "~mia/tool", "--default")
    token = site.cli("user", "token", "mia", "--name", "git").stdout.strip()
    site.start()

    tree = tmp_path / "tool"
    tree.mkdir()
    git(tree, "init", "-q", "-b", "main")
    (tree / "hello.txt").write_text(HELLO)
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "hello")
    url = site.base_url.replace("http://", f"http://mia:{token}@") + "/~mia/tool"
    pushed = subprocess.run(
        ["git", "push", "-q", url, "main"], cwd=tree, env=git_env(), capture_output=True, text=True
    )
    assert pushed.returncode == 0, pushed.stderr
    base = git(tree, "rev-parse", "HEAD").stdout.strip()
    (tree / "new.txt").write_text("new\n")
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "add new.txt")
    (tree / "hello.txt").write_text(HELLO.replace("line 15\n", "line fifteen\n"))
    git(tree, "commit", "-q", "-am", "spell fifteen")
    out = tmp_path / "out"
    git(tree, "format-patch", "-q", "--cover-letter", "--thread", f"--base={base}",
        "-o", str(out), "-2")  # fmt: skip
    cover = next(out.glob("0000-*"))
    cover.write_text(
        cover.read_text()
        .replace("*** SUBJECT HERE ***", "Spell it out")
        .replace("*** BLURB HERE ***", "Two small changes.")
    )
    git(tree, "send-email", "--quiet", "--confirm=never", "--suppress-cc=all",
        "--smtp-server=127.0.0.1", f"--smtp-server-port={site.smtp_port}",
        f"--to=dev@{domain}", "--from=Ada Lovelace <ada@example.org>",
        *sorted(str(p) for p in out.iterdir()))  # fmt: skip
    patch_1 = message_from_bytes(next(out.glob("0001-*")).read_bytes())
    cover_id = message_from_bytes(cover.read_bytes())["Message-ID"]
    review = (
        f"From: Rita Reviewer <rita@example.org>\r\nTo: dev@{domain}\r\n"
        f"Subject: Re: {patch_1['Subject']}\r\nMessage-ID: <review-1@example.org>\r\n"
        f"In-Reply-To: {patch_1['Message-ID']}\r\n"
        f"References: {cover_id} {patch_1['Message-ID']}\r\n"
        f"Date: Mon, 02 Mar 2026 12:00:00 +0000\r\n\r\nLooks right.\r\n\r\n"
        f"Reviewed-by: Rita Reviewer <rita@example.org>\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", site.smtp_port, timeout=20) as smtp:
        smtp.sendmail("rita@example.org", [f"dev@{domain}"], review)

    context = browser.new_context(base_url=site.base_url)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Username or email address").fill("mia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    def checked_page() -> bool:
        page.goto("/dev/patches/1/")
        mbox = page.request.get("/dev/patches/1/mbox").text()
        applies = "applies cleanly to ~mia/tool main" in page.inner_text("main")
        return applies and "Reviewed-by: Rita Reviewer" in mbox

    _wait_for(checked_page, "the patchset, its review and its background check")
    shoot(page, "patchset-apply-form")
    page.get_by_label("add my Signed-off-by").check()
    page.get_by_label('reply "applied, thanks"').check()
    page.get_by_role("button", name="Apply", exact=True).click()
    assert "/dev/patches/1/apply/" in page.url
    report = page.inner_text("main")
    assert "applied" in report and "spell fifteen" in report
    shoot(page, "patchset-apply-report")

    bare = repository_path(settings, "mia", "tool")
    log = git(bare, "log", "--format=%an|%cn|%s%n%b", "-2", "main").stdout
    assert "Ada Lovelace|mia|add new.txt" in log
    assert "Reviewed-by: Rita Reviewer <rita@example.org>" in log
    assert f"Link: {site.base_url}/dev/" in log and "Signed-off-by: mia <mia@example.org>" in log
    page.goto("/dev/patches/1/")
    assert "applied" in page.inner_text(".headers")

    def thanks():
        for received in sink.received:
            mail = message_from_bytes(received.content)
            if "thanks" in (mail.get_payload(decode=True) or b"").decode(errors="replace"):
                return mail
        return None

    mail = _wait_for(thanks, "the thanks mail at the sink")
    assert mail["In-Reply-To"] == cover_id and mail["Subject"] == "Re: [PATCH 0/2] Spell it out"
    assert f"dev@{domain}" in mail["Cc"] and mail["To"] == "ada@example.org"
