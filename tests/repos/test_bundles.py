"""repos.bundles' pure parts without a database (which branch HEAD names after an
import, what moved, what an import may fetch from), and a bundle download that ends
early ends its git process."""

from __future__ import annotations

import pytest

from repos.bundles import (
    SourceKind,
    bundle_chunks,
    check_import_url,
    choose_default_branch,
    parse_remote_head,
    ref_changes,
    source_of,
)
from repos.pushes import ZERO_SHA, RefChange
from repos.repositories import RepoError, create_repository
from tests.accounts.helpers import make_user
from tests.repos.helpers import git, work_tree

A, B, C = "a" * 40, "b" * 40, "c" * 40


def test_head_names_the_source_branch_else_a_branch_at_its_commit_else_a_likely_one():
    refs = {"refs/heads/trunk": A, "refs/heads/topic": B, "refs/tags/v1": C}
    assert choose_default_branch("refs/heads/topic", A, refs, "main") == "topic"
    assert choose_default_branch(None, A, refs, "main") == "trunk"  # a bundle: HEAD's commit
    assert choose_default_branch("refs/heads/gone", None, refs, "topic") == "topic"
    both = {"refs/heads/master": A, "refs/heads/main": A}
    assert choose_default_branch(None, A, both, "dev") == "main"
    assert choose_default_branch(None, None, {"refs/heads/x": A}, "main") == "x"
    assert choose_default_branch("refs/heads/main", A, {"refs/tags/v1": A}, "main") is None


def test_remote_head_as_ls_remote_prints_it():
    listed = f"ref: refs/heads/trunk\tHEAD\n{A}\tHEAD\n"
    assert parse_remote_head(listed) == ("refs/heads/trunk", A)
    assert parse_remote_head(f"{A}\tHEAD\n") == (None, A)
    assert parse_remote_head("") == (None, None)


def test_ref_changes_list_what_moved_as_post_receive_would():
    before = {"refs/heads/main": A, "refs/heads/old": B, "refs/tags/v1": C}
    after = {"refs/heads/main": B, "refs/tags/v1": C, "refs/heads/new": A}
    assert ref_changes(before, after) == [
        RefChange("refs/heads/main", A, B),
        RefChange("refs/heads/new", ZERO_SHA, A),
        RefChange("refs/heads/old", B, ZERO_SHA),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "file:///srv/git/x.git",
        "http://127.0.0.1:8080/list/git/0.git",
        "https://localhost/x.git",
        "http://[::1]:9/x",
    ],
)
def test_urls_on_this_machine_may_be_imported(url):
    assert check_import_url(url) == url
    assert source_of(url).kind is SourceKind.url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/x.git",
        "http://127.0.0.1.example.com/x.git",
        "git://127.0.0.1/x.git",
        "ssh://localhost/x.git",
        "file://host/x.git",
        "http://127.0.0.1/a b",
    ],
)
def test_other_urls_are_refused(url):
    with pytest.raises(RepoError):
        check_import_url(url)


def test_a_download_closed_early_ends_git(session, settings, tmp_path):
    ada = make_user(session, "ada")
    repository = create_repository(session, settings, ada, "tool")
    session.commit()
    tree = work_tree(tmp_path / "work", commits=2)
    git(tree, "push", "-q", str(settings.repos_dir) + "/ada/tool.git", "main")
    never_read = bundle_chunks(settings, repository)
    never_read.close()  # what the web server does after a HEAD request
    assert never_read.process.poll() is not None
    read = bundle_chunks(settings, repository)
    first = next(read)
    assert first.startswith(b"# v2 git bundle\n")
    assert b"".join([first, *read]).count(b"refs/heads/main") == 1
    assert read.process.returncode == 0
