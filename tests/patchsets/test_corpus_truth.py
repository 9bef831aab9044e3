"""The generated archive against its ground truth: what each message is, which patchset
it ends in, what that re-rolls, the trailers each patch collects; and for every series,
that `git mailinfo` and `git patch-id` read Mailyard's mbox back exactly as sent.

The small archive (2,000 messages) runs here; `bench/patchsets_bench.py` runs the same
check on the medium one (20,000) and prints its figures.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest
from sqlalchemy import select

from archive.importer import import_messages
from lists.manage import create_list
from patchsets.models import Patchset
from patchsets.queries import collect_trailers, current_patches, series_mbox
from tests import corpus
from tests.patchsets.truth_check import check_against_truth

BASE_URL = "http://archive.example.org"

pytestmark = pytest.mark.slow


@pytest.fixture
def small_archive(session):
    mlist = create_list(session, "pytest-dev", "owner@example.org")
    import_messages(session, mlist, corpus.generated_messages("small"))
    session.commit()
    return session


def test_small_archive_matches_the_ground_truth(small_archive):
    report = check_against_truth(small_archive, corpus.truth("small"))
    for miss in report.misses:
        print("miss:", miss)
    print(f"{report.checked - len(report.misses)}/{report.checked} right ({report.accuracy:.4%})")
    assert report.accuracy >= 0.995


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_every_series_mbox_gives_back_what_was_sent(small_archive, tmp_path):
    session = small_archive
    truth = corpus.truth("small")
    by_msgid = {m["message_id"]: m for m in truth["messages"]}
    problems = []
    checked = 0
    for patchset in session.scalars(select(Patchset).order_by(Patchset.id)):
        trailers = collect_trailers(session, patchset)
        entries = series_mbox(session, patchset, "pytest-dev", BASE_URL)
        patches = current_patches(patchset)
        assert len(entries) == len(patches)
        for patch, entry in zip(patches, entries, strict=True):
            want = by_msgid[f"<{patch.message_id}>"]
            added = [t.line for t in trailers[patch.message_pk].to_apply()]
            added.append(f"Link: {BASE_URL}/pytest-dev/{patch.message_id}/")
            problem = compare_with_mailinfo(entry, want, added, tmp_path)
            checked += 1
            if problem:
                problems.append(f"{patch.message_id}: {problem}")
    for problem in problems:
        print("mismatch:", problem)
    assert checked == sum(1 for m in truth["messages"] if m["kind"] == "patch")
    assert not problems


def compare_with_mailinfo(entry: bytes, want: dict, added: list[str], tmp_path) -> str | None:
    """What differs between `git mailinfo` of our mbox entry and the truth, if anything."""
    mbox = tmp_path / "entry.mbox"
    mbox.write_bytes(entry)
    msg, patch = tmp_path / "msg", tmp_path / "patch"
    with open(mbox, "rb") as f:
        out = subprocess.run(
            ["git", "mailinfo", "-u", str(msg), str(patch)],
            stdin=f,
            capture_output=True,
            check=True,
        ).stdout.decode()
    info = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    expected = want["mailinfo"]
    for key, field in (("Author", "author"), ("Email", "email"), ("Subject", "subject")):
        if info.get(key, "") != expected[field]:
            return f"{key} {info.get(key)!r} != {expected[field]!r}"
    if info.get("Date", "") != expected["date"]:
        return f"Date {info.get('Date')!r} != {expected['date']!r}"
    patch_id = subprocess.run(
        ["git", "patch-id", "--stable"], input=patch.read_bytes(), capture_output=True, check=True
    ).stdout.split()
    if not patch_id or patch_id[0].decode() != want["patch_id"]:
        return f"patch-id {patch_id[:1]} != {want['patch_id']}"
    message = msg.read_text()
    lines = message.split("\n")
    for line in added:  # our trailers, each once, at the end of the trailer block
        if lines.count(line) < 1:
            return f"trailer {line!r} missing"
    if expected["message_sha256"] not in {
        hashlib.sha256(text.encode()).hexdigest() for text in without_added(message, added)
    }:
        return f"message differs beyond the added trailers:\n{message}"
    return None


def without_added(message: str, added: list[str]) -> set[str]:
    """The message with the trailer lines we added taken out: as it is, and without the
    blank line we put before them when the message had no trailer block (or was empty)."""
    lines = message.split("\n")
    for line in reversed(added):
        for i in range(len(lines) - 1, -1, -1):
            if lines[i] == line:
                del lines[i]
                break
    text = "\n".join(lines)
    trimmed = text.rstrip("\n")
    return {text, trimmed + "\n" if trimmed else ""}
