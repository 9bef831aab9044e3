"""Mailyard's patch id is `git patch-id --stable`'s, checked against real git."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from archive.parse import parse_message
from patchsets.diff import split_patch
from patchsets.patch_id import git_patch_id
from tests import corpus

TWO_FILES = (
    "diff --git a/a.txt b/a.txt\nindex 1111111..2222222 100644\n--- a/a.txt\n+++ b/a.txt\n"
    "@@ -1,2 +1,2 @@\n one\n-two\n+2\n"
    "diff --git a/b.txt b/b.txt\nnew file mode 100644\nindex 0000000..3333333\n"
    "--- /dev/null\n+++ b/b.txt\n@@ -0,0 +1 @@\n+b\xa0c\n\\ No newline at end of file\n"
)


def git_says(diff: str) -> str:
    out = subprocess.run(
        ["git", "patch-id", "--stable"], input=diff.encode(), capture_output=True, check=True
    ).stdout.split()
    return out[0].decode()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_same_as_git_on_a_hand_made_diff():
    assert git_patch_id(TWO_FILES) == git_says(TWO_FILES)


def test_blind_to_file_order_line_numbers_and_whitespace():
    first, second = TWO_FILES.split("diff --git a/b.txt")
    swapped = "diff --git a/b.txt" + second + first
    moved = TWO_FILES.replace("@@ -1,2 +1,2 @@", "@@ -40,2 +40,2 @@")
    spaced = TWO_FILES.replace("+2\n", "+ 2 \n")
    assert git_patch_id(swapped) == git_patch_id(moved) == git_patch_id(spaced)
    assert git_patch_id(swapped) == git_patch_id(TWO_FILES)
    assert git_patch_id(TWO_FILES.replace("+2\n", "+3\n")) != git_patch_id(TWO_FILES)


def test_no_diff_no_id():
    assert git_patch_id("") is None
    assert git_patch_id("just words\n") is None


def test_every_patch_of_the_small_archive_has_the_truths_patch_id():
    truth = corpus.truth("small")
    wrong = [
        m["message_id"]
        for m, raw in zip(truth["messages"], corpus.generated_messages("small"), strict=True)
        if m["kind"] == "patch"
        and git_patch_id(split_patch(parse_message(raw).body)[1] or "") != m["patch_id"]
    ]
    assert wrong == []


def test_patchid_search_prefix_finds_the_patch(session):
    from archive.importer import import_messages
    from archive.models import Message
    from archive.search import search_messages
    from lists.manage import create_list

    mlist = create_list(session, "dev", "owner@example.org")
    raw = (
        "From: Ada <ada@example.com>\nTo: dev@lists.example.org\nSubject: [PATCH] two\n"
        "Message-ID: <pid@example.com>\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n\n"
        "Change two.\n---\n" + TWO_FILES
    ).encode()
    import_messages(session, mlist, [raw])
    session.commit()
    (pk,) = session.query(Message.id).filter(Message.message_id == "pid@example.com").one()
    wanted = git_patch_id(TWO_FILES)
    assert search_messages(session, [mlist.id], f"patchid:{wanted}") == [pk]
    assert search_messages(session, [mlist.id], f"patchid:{wanted.upper()} s:two") == [pk]
    assert search_messages(session, [mlist.id], "patchid:" + "0" * 40) == []
