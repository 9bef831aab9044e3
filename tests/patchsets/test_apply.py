"""`mailyard patchset apply` on a series made by real `git format-patch` and archived on a
list linked to a hosted repository: the background dry run, the apply (collected
trailers, `Link:`, the applier's sign-off, the push recorded as theirs, the patchset
`applied`, the thanks reply in `b4 ty`'s words), a conflict report that names the patch,
the file and the hunk, and the refusals."""

from __future__ import annotations

from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.access import actor_for_user
from archive.importer import import_messages
from lists.manage import create_list
from mail.models import OutboxMessage
from patchsets.apply import ApplyOptions, ApplyRefused, apply_patchset, latest_attempt, thanks_text
from patchsets.models import ApplyOutcome, MatchMethod, PatchCommit, Patchset, PatchsetStatus
from patchsets.repositories import link_repository
from repos import storage
from repos.models import Push, PushVia
from repos.repositories import create_repository
from tests.accounts.helpers import make_user
from tests.cli_runner import MailyardCli
from tests.repos.helpers import git

HELLO = "".join(f"line {i}\n" for i in range(1, 21))


def format_series(tree: Path, base: str, *extra: str) -> list[bytes]:
    """The mails of `git format-patch --cover-letter --base` for base..HEAD."""
    out = tree.parent / f"out-{len(list(tree.parent.iterdir()))}"
    git(tree, "format-patch", "-q", "--cover-letter", f"--base={base}", "--thread=shallow",
        "-o", str(out), *extra, f"{base}..HEAD")  # fmt: skip
    mails = []
    for path in sorted(out.iterdir()):
        text = path.read_text()
        text = text.replace("*** SUBJECT HERE ***", "Spell it out").replace(
            "*** BLURB HERE ***", "Two small changes."
        )
        mails.append(text.encode())
    return mails


def hello_tree(tree: Path, bare: Path) -> tuple[Path, str]:
    """A work tree whose main (hello.txt) is pushed to `bare`; (tree, main's sha)."""
    tree.mkdir()
    git(tree, "init", "-q", "-b", "main")
    (tree / "hello.txt").write_text(HELLO)
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "hello")
    git(tree, "push", "-q", str(bare), "main")
    return tree, git(tree, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture
def linked(session, settings, tmp_path):
    """The list `dev` linked to ~mia/tool (main: hello.txt); Mia owns both (her address
    is the list owner's); a work tree with a 2-patch series on main, archived on dev
    with a Reviewed-by reply to patch 1."""
    mlist = create_list(session, "dev", "owner@example.com")
    mia = make_user(session, "mia", "owner@example.com")
    repository = create_repository(session, settings, mia, "tool")
    link_repository(session, mlist, repository, default=True)
    session.commit()
    bare = storage.path_of(settings, repository)
    tree, base = hello_tree(tmp_path / "tree", bare)
    (tree / "new.txt").write_text("new\n")
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "add new.txt")
    (tree / "hello.txt").write_text(HELLO.replace("line 15\n", "line fifteen\n"))
    git(tree, "commit", "-q", "-am", "spell fifteen")
    mails = format_series(tree, base)
    patch_1 = message_from_bytes(mails[1])
    review = (
        f"From: Rita Reviewer <rita@example.org>\nTo: dev@example.com\n"
        f"Subject: Re: {patch_1['Subject']}\nMessage-ID: <review-1@example.org>\n"
        f"In-Reply-To: {patch_1['Message-ID']}\nReferences: {patch_1['Message-ID']}\n"
        f"Date: Mon, 02 Mar 2026 12:00:00 +0000\n\nLooks right.\n\n"
        f"Reviewed-by: Rita Reviewer <rita@example.org>\n"
    ).encode()
    import_messages(session, mlist, [*mails, review])
    patchset = session.scalars(select(Patchset).where(Patchset.list_id == mlist.id)).one()
    return {"list": mlist, "mia": mia, "repo": repository, "bare": bare, "tree": tree,
            "base": base, "patchset": patchset}  # fmt: skip


def _head(bare: Path) -> str:
    return git(bare, "rev-parse", "refs/heads/main").stdout.strip()


def test_a_new_series_is_dry_run_in_the_background(session, linked) -> None:
    attempt = latest_attempt(session, linked["patchset"])
    assert attempt is not None and attempt.dry_run and attempt.outcome is ApplyOutcome.clean
    assert attempt.base_sha == linked["base"] and len(attempt.report["commits"]) == 2
    assert _head(linked["bare"]) == linked["base"]


def test_apply_from_the_cli_moves_the_branch_and_marks_the_patchset(
    session, settings, linked
) -> None:
    cli = MailyardCli(settings, "patchset")
    pid = str(linked["patchset"].id)
    checked = cli("apply", "dev", pid, "--check")
    assert checked.returncode == 0 and "applies cleanly to ~mia/tool main" in checked.stdout
    done = cli("apply", "dev", pid, "--as", "mia", "--signoff", "--thanks")
    assert done.returncode == 0, done.stderr
    assert "applied to ~mia/tool main:" in done.stdout and "(2 commits)" in done.stdout
    bare = linked["bare"]
    log = git(bare, "log", "--format=%an <%ae>|%cn|%s%n%b%n==", "main").stdout
    first, second = log.split("==\n")[1], log.split("==\n")[0]
    assert first.startswith("Ada Lovelace <ada@example.org>|mia|add new.txt")
    assert "Reviewed-by: Rita Reviewer <rita@example.org>" in first
    assert "Link: http" in first and "Signed-off-by: mia <owner@example.com>" in first
    assert "Reviewed-by" not in second and "spell fifteen" in second
    session.expire_all()
    patchset = session.get(Patchset, linked["patchset"].id)
    assert patchset.status is PatchsetStatus.applied and patchset.status_by == "owner@example.com"
    rows = session.scalars(select(PatchCommit).order_by(PatchCommit.id)).all()
    assert [r.method for r in rows] == [MatchMethod.applied] * 2
    assert rows[-1].commit_sha == _head(bare)
    push = session.scalars(select(Push)).one()
    assert push.via is PushVia.web and push.pusher_user_id == linked["mia"].id
    [thanks] = session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "patchset-applied-thanks")
    ).all()
    mail = message_from_bytes(thanks.raw)
    assert mail["Subject"] == "Re: [PATCH 0/2] Spell it out"
    assert mail["In-Reply-To"] == f"<{patchset.first_message_id}>" and "dev@" in mail["Cc"]
    # example.com is not a domain this instance may send for (mail.on_behalf).
    assert mail["From"] == f"mia via Mailyard <noreply@{settings.domain}>"
    assert mail["Reply-To"] == "mia <owner@example.com>"
    text = mail.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert "Applied to ~mia/tool (main), thanks!" in text
    assert "[2/2] spell fifteen\n      commit: http" in text and _head(bare) in text
    again = cli("apply", "dev", pid, "--as", "mia")
    assert again.returncode == 1 and "is it applied already?" in again.stdout


def test_a_conflict_names_the_patch_file_and_hunk(session, settings, linked) -> None:
    bare, tree = linked["bare"], linked["tree"]
    other = tree.parent / "other"
    git(tree.parent, "clone", "-q", str(bare), str(other))
    (other / "hello.txt").write_text(HELLO.replace("line 15\n", "line XV\n"))
    git(other, "commit", "-q", "-am", "roman fifteen")
    git(other, "push", "-q", "origin", "main")
    before = _head(bare)
    shown = MailyardCli(settings, "patchset")("apply", "dev", str(linked["patchset"].id))
    assert shown.returncode == 1
    assert "does not apply to ~mia/tool main" in shown.stdout
    assert "patch 2/2 'spell fifteen' failed" in shown.stdout
    assert "did not apply: hello.txt" in shown.stdout and "@@ -12,7 +12,7 @@" in shown.stdout
    assert "git am said:" in shown.stdout and "Traceback" not in shown.stderr
    assert _head(bare) == before
    session.expire_all()
    attempt = latest_attempt(session, linked["patchset"])
    assert attempt.outcome is ApplyOutcome.conflict and attempt.failed_position == 2
    assert attempt.report["files"][0]["path"] == "hello.txt"


def test_who_may_apply(session, settings, linked) -> None:
    eve = make_user(session, "eve", "eve@example.org")
    session.commit()
    with pytest.raises(ApplyRefused, match="right to write to ~mia/tool and to moderate dev"):
        apply_patchset(
            session, settings, linked["list"], linked["patchset"],
            actor_for_user(session, eve), ApplyOptions(),
        )  # fmt: skip
    cli = MailyardCli(settings, "patchset")
    shown = cli("apply", "dev", str(linked["patchset"].id), "--repo", "~mia/none")
    assert shown.returncode == 1 and "no repository ~mia/none" in shown.stderr
    assert cli("apply", "dev", "999").returncode == 1
    assert _head(linked["bare"]) == linked["base"]


def test_thanks_text_reads_like_b4_ty() -> None:
    text = thanks_text(
        sent_date="Mon, 02 Mar 2026 10:00:00 +0000",
        sender="Ada Lovelace",
        quoted=["Two small changes."],
        tree="~mia/tool",
        branch="main",
        applied=[("add new.txt", "https://x/c/1"), ("spell fifteen", "https://x/c/2")],
        signature="mia",
    )
    assert text == (
        "On Mon, 02 Mar 2026 10:00:00 +0000, Ada Lovelace wrote:\n> Two small changes.\n\n"
        "Applied to ~mia/tool (main), thanks!\n\n"
        "[1/2] add new.txt\n      commit: https://x/c/1\n"
        "[2/2] spell fifteen\n      commit: https://x/c/2\n\n"
        "Best regards,\n-- \nmia\n"
    )
