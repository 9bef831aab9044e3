"""Sending a series from a hosted repository (`patchsets.send_series`), on real git: the
mails are `git format-patch`'s; the list here gets them through intake and groups them
like any `git send-email` series; someone elsewhere gets them through the outbox, From
"NAME via Mailyard" and DKIM-signed, and `git am` keeps the author; a second version
answers the first with git's range-diff."""

from __future__ import annotations

import subprocess
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.models import Message
from lists.manage import create_list
from mail.dkim_sign import generate_key
from mail.models import OutboxMessage
from patchsets.models import Patchset, SentSeries
from patchsets.queries import series_mbox
from patchsets.repositories import link_repository
from patchsets.send_series import (
    PURPOSE,
    SeriesDraft,
    SeriesRefused,
    default_recipients,
    prepare,
    send,
)
from repos import storage
from repos.format_patch import RangeRefused, fork_point, split_mbox
from repos.repositories import create_repository
from tests.accounts.helpers import make_user
from tests.patchsets.test_apply import HELLO, hello_tree
from tests.repos.helpers import git, git_env

ANN = git_env(GIT_AUTHOR_NAME="Ann Åuthor", GIT_AUTHOR_EMAIL="ann@elsewhere.org")
# Zoe runs format-patch in her tree: the cover letter is From her, as it is on the server.
ZOE = git_env(GIT_COMMITTER_NAME="zoe", GIT_COMMITTER_EMAIL="zoe@outside.net")


@pytest.fixture
def branch(session, settings, tmp_path):
    """~mia/tool (main: hello.txt) linked to the list dev; a branch `spell` of two commits
    by Ann, pushed by Zoe, who sends it."""
    mlist = create_list(session, "dev", "owner@example.com")
    mia = make_user(session, "mia", "owner@example.com")
    zoe = make_user(session, "zoe", "zoe@outside.net")
    repository = create_repository(session, settings, mia, "tool")
    link_repository(session, mlist, repository, default=True)
    session.commit()
    bare = storage.path_of(settings, repository)
    tree, _ = hello_tree(tmp_path / "tree", bare)
    git(tree, "checkout", "-q", "-b", "spell")
    (tree / "new.txt").write_text("new\n")
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "add new.txt", "-m", "Because it was missing.", env=ANN)
    (tree / "hello.txt").write_text(HELLO.replace("line 15\n", "line fifteen\n"))
    git(tree, "commit", "-q", "-am", "spell fifteen", env=ANN)
    git(tree, "push", "-q", str(bare), "spell")
    return {"list": mlist, "zoe": zoe, "repo": repository, "bare": bare, "tree": tree}


def draft(**changes) -> SeriesDraft:
    fields = {
        "base": "main",
        "tip": "spell",
        "branch": "spell",
        "cover_subject": "Spell it out",
        "cover_body": "Two small changes, tested on a phone.",
        "to": ("dev@lists.example.org",),
        "cc": ("kim@outside.net",),
    }
    return SeriesDraft(**{**fields, **changes})


def _without_ids(raw: bytes) -> list[bytes]:
    return [
        line
        for line in raw.replace(b"\r\n", b"\n").split(b"\n")
        if not line.startswith((b"Message-Id:", b"Message-ID:", b"In-Reply-To:", b"References:"))
        and not line.startswith(b"Date:")
    ]


def test_the_preview_is_git_format_patch_and_the_list_here_gets_the_series(
    session, settings, branch, tmp_path
) -> None:
    Path(settings.dkim_key_file).write_bytes(generate_key(1024))
    zoe, repository = branch["zoe"], branch["repo"]
    assert default_recipients(session, settings, repository) == ["dev@lists.example.org"]
    assert (
        fork_point(branch["bare"], "main", "spell")
        == git(branch["tree"], "rev-parse", "main").stdout.strip()
    )
    sha_1 = git(branch["tree"], "rev-parse", "spell~1").stdout.strip()
    prepared = prepare(session, settings, zoe, repository, draft(notes={sha_1: "v1: first try"}))
    assert [m.commit for m in prepared.mails] == [None, sha_1, prepared.tip_sha]

    # The mails are what git format-patch gives for the range (ids and dates aside).
    out = git(branch["tree"], "format-patch", "--stdout", "--thread=shallow", "--cover-letter",
              "--base=main", "main..spell", env=ZOE).stdout.encode()  # fmt: skip
    expected = split_mbox(out, cover_letter=True)
    assert [_without_ids(m.formatted) for m in prepared.mails] == [
        _without_ids(m.raw) for m in expected
    ]
    cover, first, second = (message_from_bytes(m.sent, policy=default) for m in prepared.mails)
    assert cover["Subject"] == "[PATCH 0/2] Spell it out"
    assert "Two small changes, tested on a phone." in cover.get_content().replace("\r\n", "\n")
    assert "base-commit: " in cover.get_content().replace("\r\n", "\n")
    assert first["In-Reply-To"] == cover["Message-ID"] == second["In-Reply-To"]
    assert cover["Message-ID"].startswith("<") and "-spell-v1-0-" in cover["Message-ID"]
    # Zoe's domain is not ours: From is "zoe via Mailyard", the author stays Ann in the body.
    assert prepared.rewritten_from and str(first["From"]) == (
        f"zoe via Mailyard <noreply@{settings.domain}>"
    )
    assert str(first["Reply-To"]) == "zoe <zoe@outside.net>"
    body = first.get_content().replace("\r\n", "\n")
    assert body.startswith("From: Ann Åuthor <ann@elsewhere.org>\n\nBecause it was missing.")
    assert "---\nv1: first try\n\n new.txt | 1 +" in body
    here = message_from_bytes(prepared.mails[1].delivered_here, policy=default)
    assert str(here["From"]) == "zoe <zoe@outside.net>" and here["Reply-To"] is None

    result = send(session, settings, zoe, repository, prepared)
    session.commit()
    assert [(a, d.outcome.value) for a, d in result.here] == [("dev@lists.example.org", "accept")]
    assert result.relayed == ["kim@outside.net"]

    # Elsewhere: three mails queued for the relay, DKIM-signed by the instance.
    queued = session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == PURPOSE)).all()
    assert [row.recipients for row in queued] == [["kim@outside.net"]] * 3
    assert all(row.envelope_from == "zoe@outside.net" for row in queued)
    signed = message_from_bytes(queued[0].raw, policy=default)
    assert f"d={settings.domain};" in signed["DKIM-Signature"].replace(" ", "")

    # Here: archived on dev and grouped into one patchset, which git am turns back into
    # the branch's tree with Ann as the author.
    session.expire_all()
    patchset = session.scalars(select(Patchset).where(Patchset.list_id == branch["list"].id)).one()
    assert patchset.total == 2 and patchset.submitter_addr == "zoe@outside.net"
    assert (
        session.scalar(select(Message).where(Message.message_id == cover["Message-ID"].strip("<>")))
        is not None
    )
    mbox = b"".join(series_mbox(session, patchset, "dev", settings.base_url))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "-b", "main", str(branch["bare"]), str(clone))
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=M", "-c", "user.email=m@x",
                    "am", "-q", "-3"], input=mbox, check=True)  # fmt: skip
    assert (
        git(clone, "rev-parse", "HEAD^{tree}").stdout
        == git(branch["tree"], "rev-parse", "spell^{tree}").stdout
    )
    authors = git(clone, "log", "--format=%an <%ae>", "-2").stdout.split("\n")[:2]
    assert authors == ["Ann Åuthor <ann@elsewhere.org>"] * 2

    # Twice the same: refused, and intake would drop the copies as duplicates anyway.
    with pytest.raises(SeriesRefused, match="as v2"):
        prepare(session, settings, zoe, repository, draft())


def test_a_second_version_answers_the_first_with_a_range_diff(session, settings, branch) -> None:
    zoe, repository, tree = branch["zoe"], branch["repo"], branch["tree"]
    first = send(
        session,
        settings,
        zoe,
        repository,
        prepare(session, settings, zoe, repository, draft(cc=())),
    )
    session.commit()
    (tree / "new.txt").write_text("newer\n")
    git(tree, "commit", "-q", "--amend", "-a", "--no-edit")
    git(tree, "push", "-q", "-f", str(branch["bare"]), "spell")  # v1's commits stay: v1 names them
    prepared = prepare(session, settings, zoe, repository, draft(version=2, cc=()))
    cover = message_from_bytes(prepared.mails[0].sent, policy=default)
    assert cover["Subject"] == "[PATCH v2 0/2] Spell it out"
    assert cover["In-Reply-To"] == f"<{first.record.message_ids[0]}>"
    assert "Range-diff against v1:" in cover.get_content().replace("\r\n", "\n")
    second = send(session, settings, zoe, repository, prepared)
    session.commit()
    assert second.record.previous_id == first.record.id and second.record.version == 2
    assert session.scalars(select(SentSeries)).all() == [first.record, second.record]


def test_what_cannot_be_sent_says_why(session, settings, branch) -> None:
    zoe, repository = branch["zoe"], branch["repo"]
    with pytest.raises(RangeRefused, match="no commit 'nope'"):
        prepare(session, settings, zoe, repository, draft(tip="nope"))
    with pytest.raises(RangeRefused, match="has no commits after"):
        prepare(session, settings, zoe, repository, draft(tip="main"))
    with pytest.raises(SeriesRefused, match="needs a cover letter subject"):
        prepare(session, settings, zoe, repository, draft(cover_subject=""))
    with pytest.raises(SeriesRefused, match="To: invalid address"):
        prepare(session, settings, zoe, repository, draft(to=("not an address",)))
    with pytest.raises(SeriesRefused, match="needs a recipient"):
        prepare(session, settings, zoe, repository, draft(to=()))
    with pytest.raises(SeriesRefused, match="version is a number"):
        prepare(session, settings, zoe, repository, draft(version=0))


def test_mail_from_a_domain_the_instance_sends_for_is_from_the_user(session, settings, branch):
    from dataclasses import replace

    mine = replace(settings, sender_domains="outside.net")
    one = draft(base="spell~1", cover_subject="")
    prepared = prepare(session, mine, branch["zoe"], branch["repo"], one)
    [patch] = prepared.mails  # one patch, no cover letter subject: no cover letter
    mail = message_from_bytes(patch.sent, policy=default)
    assert str(mail["From"]) == "zoe <zoe@outside.net>" and mail["Reply-To"] is None
    assert mail["Subject"] == "[PATCH] spell fifteen" and "-spell-v1-1-" in mail["Message-ID"]
    assert (
        mail.get_content()
        .replace("\r\n", "\n")
        .startswith("From: Ann Åuthor <ann@elsewhere.org>\n\n")
    )  # not Zoe's
    assert not prepared.rewritten_from
