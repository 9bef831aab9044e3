"""Subject prefixes and classification, pure: no database."""

from __future__ import annotations

import pytest

from patchsets.classify import MailKind, classify_message
from patchsets.subject import parse_subject

DIFF = (
    "---\n a.txt | 1 +\n\ndiff --git a/a.txt b/a.txt\nindex e69de29..ce01362 100644\n"
    "--- a/a.txt\n+++ b/a.txt\n@@ -0,0 +1 @@\n+hello\n"
)


@pytest.mark.parametrize(
    "subject,expected",
    [
        ("[PATCH] fix it", dict(name="fix it", version=None, index=None, total=None)),
        ("[PATCH v3 2/7] fix it", dict(version=3, index=2, total=7)),
        ("[PATCHv3 2/7] fix it", dict(version=3, index=2, total=7)),
        ("[PATCH V2 0/4] PM / OPP: cleanups", dict(version=2, index=0, name="PM / OPP: cleanups")),
        ("[RFC PATCH] idea", dict(rfc=True, name="idea")),
        ("[PATCH RFC v2] idea", dict(rfc=True, version=2)),
        ("[PATCH RESEND] again", dict(resend=True)),
        ("[RESEND PATCH v2 1/3] again", dict(resend=True, version=2, index=1, total=3)),
        ("[PATCH project-name 1/2] x", dict(tags=("project-name",), index=1, total=2)),
        ("[PATCH net-next v3 0/4] net: dsa (v3)", dict(tags=("net-next",), version=3, index=0)),
        ("[PATCH 1 of 3] hg style", dict(index=1, total=3, name="hg style")),
        ("[PATCH 0 of 2] Sample Mercurial patches", dict(index=0, total=2)),
        ("[net,v2,1/2] net: fix", dict(tags=("net",), version=2, index=1, total=2)),
        ("[dpdk-dev] [PATCH] kni: fix", dict(tags=("dpdk-dev",), name="kni: fix")),
        ("[PATCH v5.1 10/12] partial", dict(version=5, version_minor=1, index=10, total=12)),
        ("[PATCH] [automated] bump", dict(tags=("automated",), name="bump")),
        ("[Patch 2/2]: powerpc: fix", dict(index=2, total=2, name="powerpc: fix")),
        ("[GIT PULL] soc: updates", dict(marked_pull=True, marked_patch=False)),
        ("Re: [PATCH 1/2] x", dict(is_reply=True, index=1)),
        ("RE: Aw: Fwd: [PATCH] x", dict(is_reply=True, name="x")),
        ("Re[2]: [PATCH] x", dict(is_reply=True)),
        ("[PATCH] Re: bug in x", dict(is_reply=False, marked_patch=True, name="bug in x")),
        ("plain subject", dict(name="plain subject", marked_patch=False)),
        ("", dict(name="")),
    ],
)
def test_subject_prefixes(subject, expected):
    info = parse_subject(subject)
    for field, value in expected.items():
        assert getattr(info, field) == value, (subject, field)


def test_a_re_subject_is_a_reply_even_with_a_diff():
    result = classify_message("Re: [PATCH] x", "> quoted\n\nTry this:\n\n" + DIFF, True)
    assert result.kind is MailKind.reply


def test_a_patch_marker_before_re_makes_a_patch():
    result = classify_message("[PATCH] Re: bug in x", "Fix it.\n" + DIFF, True)
    assert result.kind is MailKind.patch
    assert [f.path for f in result.files] == ["a.txt"]


def test_an_unmarked_mail_with_a_diff_is_a_patch():
    assert classify_message("Fix pow overflow", "Fix.\n" + DIFF, False).kind is MailKind.patch


def test_cover_letter_needs_number_zero_and_no_diff():
    assert classify_message("[PATCH 0/2] series", "Blurb.\n", False).kind is MailKind.cover
    assert classify_message("[PATCH 1/2] one", "No diff here.\n", True).kind is MailKind.reply


def test_pull_request_is_recognised_with_its_url_and_ref():
    body = (
        "The following changes since commit abc:\n\n  x (2024)\n\n"
        "are available in the Git repository at:\n\n"
        "  https://git.example.org/pub/scm/foo.git tags/foo-6.9\n\nfor you to fetch.\n"
    )
    result = classify_message("[GIT PULL] foo for 6.9", body, False)
    assert result.kind is MailKind.pull
    assert (result.pull.url, result.pull.ref) == (
        "https://git.example.org/pub/scm/foo.git",
        "tags/foo-6.9",
    )


def test_plain_mail_is_discussion_or_reply():
    assert classify_message("Question", "How?\n", False).kind is MailKind.discussion
    assert classify_message("Answer", "Like so.\n", True).kind is MailKind.reply


def test_series_metadata_is_read():
    body = (
        "Blurb.\n\nDepends-on: <dep@example.com>\nSupersedes: <old@example.com>\n---\n"
        "base-commit: 0123456789abcdef0123456789abcdef01234567\n"
        "change-id: 20240101-topic-abcdef012345\n"
    )
    result = classify_message("[PATCH v2 0/3] topic", body, False)
    assert result.kind is MailKind.cover
    assert result.depends_on == ["dep@example.com"]
    assert result.supersedes == ["old@example.com"]
    assert result.base_commit == "0123456789abcdef0123456789abcdef01234567"
    assert result.change_id == "20240101-topic-abcdef012345"


def test_a_reply_carries_series_links_of_its_own_text_only():
    body = (
        "> Supersedes: <quoted@example.com>\n> Based-on: <quoted-base@example.com>\n\n"
        "This is v2 of the other one.\n\nSupersedes: <old@example.com>\n"
        "Based-on: <base@example.com>\n"
    )
    for subject, has_parent in (("Re: [PATCH] topic", True), ("topic", True)):
        result = classify_message(subject, body, has_parent)
        assert result.kind is MailKind.reply
        assert result.supersedes == ["old@example.com"]
        assert result.depends_on == ["base@example.com"]


def test_based_on_in_a_cover_letter_is_a_dependency():
    result = classify_message("[PATCH 0/2] topic", "Blurb.\n\nBased-on: <b@example.com>\n", False)
    assert result.kind is MailKind.cover and result.depends_on == ["b@example.com"]
