"""A whole mail declared `application/octet-stream` that holds `git format-patch` text is
a patch, as `git mailinfo` (the oracle here, run for real) and patchew read it."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.importer import import_messages
from archive.parse import parse_message
from lists.manage import create_list
from patchsets.classify import MailKind, classify_message
from patchsets.models import Patchset
from patchsets.patch_id import git_patch_id


def git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, check=True
    ).stdout


@pytest.fixture
def format_patch(tmp_path) -> bytes:
    """What `git format-patch` writes for one real commit, From_ line removed."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for key, value in (("user.name", "Ada"), ("user.email", "ada@example.com")):
        git(repo, "config", key, value)
    (repo / "hello.txt").write_text("hello\n")
    git(repo, "add", "hello.txt")
    git(repo, "commit", "-qm", "start")
    (repo / "hello.txt").write_text("hello\nworld\n")
    git(repo, "commit", "-qam", "say world too\n\nBecause the world listens.")
    out = git(repo, "format-patch", "-1", "--stdout")
    return out.split(b"\n", 1)[1]


def as_octet_stream(patch_mail: bytes, encoding: str) -> bytes:
    """The format-patch text as the whole body of a mail declared binary."""
    _headers, body = patch_mail.split(b"\n\n", 1)
    payload = base64.encodebytes(body) if encoding == "base64" else body
    return (
        b"From: Ada <ada@example.com>\nTo: dev@lists.example.org\n"
        b"Subject: [PATCH] say world too\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n"
        b"Message-ID: <octet@example.com>\nMIME-Version: 1.0\n"
        b"Content-Type: application/octet-stream\n"
        b"Content-Transfer-Encoding: " + encoding.encode() + b"\n\n" + payload
    )


def mailinfo_patch(tmp_path: Path, raw: bytes) -> str:
    msg, patch = tmp_path / "msg", tmp_path / "patch"
    subprocess.run(
        ["git", "mailinfo", str(msg), str(patch)], input=raw, capture_output=True, check=True
    )
    return patch.read_text()


def real_patch_id(tmp_path: Path, patch: str) -> str:
    return git(tmp_path, "patch-id", "--stable", stdin=patch.encode()).split()[0].decode()


@pytest.mark.parametrize("encoding", ["base64", "8bit"])
def test_octet_stream_mail_with_format_patch_text_is_the_patch_git_finds(
    tmp_path, format_patch, encoding
):
    raw = as_octet_stream(format_patch, encoding)
    expected = mailinfo_patch(tmp_path, raw)
    assert "\ndiff --git a/hello.txt b/hello.txt\n" in expected  # the oracle found it
    parsed = parse_message(raw)
    result = classify_message(parsed.subject, parsed.body, has_parent=False)
    assert result.kind is MailKind.patch
    assert result.diff is not None and result.diff in expected
    assert git_patch_id(result.diff) == real_patch_id(tmp_path, expected)
    assert [a.content_type for a in parsed.attachments] == ["application/octet-stream"]


def test_binary_octet_stream_is_no_text(tmp_path):
    raw = (
        b"From: Ada <ada@example.com>\nSubject: [PATCH] a picture\nMessage-ID: <bin@x>\n"
        b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    )
    assert mailinfo_patch(tmp_path, raw) == ""
    parsed = parse_message(raw)
    assert parsed.body == "" and len(parsed.attachments) == 1


def test_octet_stream_patch_is_filed_as_a_patchset(session, format_patch):
    mlist = create_list(session, "dev", "owner@example.org")
    import_messages(session, mlist, [as_octet_stream(format_patch, "base64")])
    session.commit()
    (patchset,) = session.scalars(select(Patchset))
    assert patchset.name == "say world too" and patchset.patch_count == 1
