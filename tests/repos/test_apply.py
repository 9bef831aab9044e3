"""repos.apply on real bare repositories and real `git format-patch` output: a clean
apply moves the branch by fast-forward and nothing else; a conflict names the patch, the
file and the hunk and changes nothing; a dry run writes no ref; a branch that moves while
`git am` runs is not overwritten; no worktree is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from repos.apply import (
    ZERO_SHA,
    ApplyRequest,
    ApplyStatus,
    Identity,
    apply_mbox,
    parse_am_output,
    rejected_hunks,
)
from tests.repos.helpers import git

MAINTAINER = Identity("Mia Maintainer", "mia@example.org")
HELLO = "".join(f"line {i}\n" for i in range(1, 21))


@pytest.fixture
def upstream(tmp_path: Path) -> dict:
    """A bare repository whose main holds hello.txt, and a clone with a 2-patch series
    on top of it (the second patch edits line 15)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    git(tree, "init", "-q", "-b", "main")
    (tree / "hello.txt").write_text(HELLO)
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "hello")
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(tree), str(bare))
    base = git(tree, "rev-parse", "HEAD").stdout.strip()
    (tree / "new.txt").write_text("new\n")
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "add new.txt")
    (tree / "hello.txt").write_text(HELLO.replace("line 15\n", "line fifteen\n"))
    git(tree, "commit", "-q", "-am", "spell fifteen")
    mbox = git(tree, "format-patch", "--stdout", f"{base}..HEAD").stdout.encode()
    return {"tree": tree, "bare": bare, "base": base, "mbox": mbox}


def _head(bare: Path, branch: str = "main") -> str:
    return git(bare, "rev-parse", f"refs/heads/{branch}").stdout.strip()


def _worktrees(bare: Path) -> int:
    return len(git(bare, "worktree", "list").stdout.splitlines())


def test_a_clean_series_fast_forwards_the_branch_with_signoff(upstream) -> None:
    bare = upstream["bare"]
    result = apply_mbox(
        bare, ApplyRequest(mbox=upstream["mbox"], branch="main", committer=MAINTAINER, signoff=True)
    )
    assert result.status is ApplyStatus.applied, result
    assert result.old_sha == upstream["base"] and result.new_sha == _head(bare)
    assert len(result.commits) == 2 and result.commits[-1] == result.new_sha
    shown = git(bare, "log", "--format=%an|%cn|%s%n%b", "-2", "main").stdout
    assert "Ada Lovelace|Mia Maintainer|spell fifteen" in shown
    assert "Signed-off-by: Mia Maintainer <mia@example.org>" in shown
    assert _worktrees(bare) == 1


def test_a_conflict_names_the_patch_file_and_hunk_and_moves_nothing(upstream) -> None:
    bare, tree = upstream["bare"], upstream["tree"]
    # Upstream changed line 15 meanwhile, so patch 2 of 2 cannot apply.
    other = tree.parent / "other"
    git(tree.parent, "clone", "-q", str(bare), str(other))
    (other / "hello.txt").write_text(HELLO.replace("line 15\n", "line XV\n"))
    git(other, "commit", "-q", "-am", "roman fifteen")
    git(other, "push", "-q", "origin", "main")
    before = _head(bare)
    result = apply_mbox(
        bare, ApplyRequest(mbox=upstream["mbox"], branch="main", committer=MAINTAINER)
    )
    assert result.status is ApplyStatus.conflict
    assert result.failure is not None and result.failure.position == 2
    assert result.failure.subject == "spell fifteen"
    assert "hello.txt" in result.failure.message
    [failed] = result.files
    assert failed.path == "hello.txt"
    [hunk] = failed.hunks
    assert hunk.startswith("@@ -12,7 +12,7 @@") and "-line 15\n+line fifteen" in hunk
    assert _head(bare) == before and _worktrees(bare) == 1
    assert "new.txt" not in git(bare, "ls-tree", "--name-only", "main").stdout


def test_a_dry_run_writes_no_ref(upstream) -> None:
    bare = upstream["bare"]
    result = apply_mbox(
        bare, ApplyRequest(mbox=upstream["mbox"], branch="main", committer=MAINTAINER, dry_run=True)
    )
    assert result.status is ApplyStatus.clean and len(result.commits) == 2
    assert _head(bare) == upstream["base"]


def test_a_new_branch_on_an_old_base_and_the_refusals(upstream) -> None:
    bare, tree = upstream["bare"], upstream["tree"]
    git(tree, "push", "-q", str(bare), "HEAD:refs/heads/main")  # main moved past the base
    on_base = ApplyRequest(
        mbox=upstream["mbox"], branch="main", committer=MAINTAINER, base=upstream["base"]
    )
    refused = apply_mbox(bare, on_base)
    assert refused.status is ApplyStatus.failed and "would not fast-forward" in refused.note
    review = apply_mbox(
        bare,
        ApplyRequest(
            mbox=upstream["mbox"],
            branch="main",
            committer=MAINTAINER,
            base=upstream["base"],
            new_branch="review/7",
        ),
    )
    assert review.status is ApplyStatus.applied and review.old_sha == ZERO_SHA
    assert git(bare, "rev-parse", "review/7^^").stdout.strip() == upstream["base"]
    again = apply_mbox(
        bare, ApplyRequest(mbox=b"", branch="main", committer=MAINTAINER, new_branch="review/7")
    )
    assert again.status is ApplyStatus.failed and "already exists" in again.note
    missing = apply_mbox(bare, ApplyRequest(mbox=b"", branch="nope", committer=MAINTAINER))
    assert missing.status is ApplyStatus.failed and "no branch nope" in missing.note
    unknown = apply_mbox(
        bare, ApplyRequest(mbox=b"", branch="main", committer=MAINTAINER, base="v9.9")
    )
    assert "no revision v9.9" in unknown.note


def test_a_base_commit_behind_the_branch_applies_on_top(upstream) -> None:
    bare, tree = upstream["bare"], upstream["tree"]
    other = tree.parent / "other"
    git(tree.parent, "clone", "-q", str(bare), str(other))
    (other / "unrelated.txt").write_text("x\n")
    git(other, "add", ".")
    git(other, "commit", "-q", "-m", "unrelated")
    git(other, "push", "-q", "origin", "main")
    moved = _head(bare)
    result = apply_mbox(
        bare,
        ApplyRequest(
            mbox=upstream["mbox"], branch="main", committer=MAINTAINER, base_commit=upstream["base"]
        ),
    )
    assert result.status is ApplyStatus.applied and result.base_sha == moved
    assert "behind main: applied on top" in result.note


def test_a_branch_that_moves_during_git_am_is_not_overwritten(upstream) -> None:
    bare, tree = upstream["bare"], upstream["tree"]
    racer = tree.parent / "racer"
    git(tree.parent, "clone", "-q", str(bare), str(racer))
    (racer / "race.txt").write_text("won\n")
    git(racer, "add", ".")
    git(racer, "commit", "-q", "-m", "the other push")
    git(racer, "push", "-q", "origin", "HEAD:refs/heads/racing")
    racing = git(racer, "rev-parse", "HEAD").stdout.strip()
    # git am runs the repository's post-applypatch hook: push from there, as a racing
    # apply or push would, between the base being read and the branch being moved.
    hook = bare / "hooks" / "post-applypatch"
    hook.write_text(f"#!/bin/sh\ngit --git-dir={bare} update-ref refs/heads/main {racing}\n")
    hook.chmod(0o755)
    result = apply_mbox(
        bare, ApplyRequest(mbox=upstream["mbox"], branch="main", committer=MAINTAINER)
    )
    assert result.status is ApplyStatus.busy and "try again" in result.note
    assert _head(bare) == racing


def test_parse_am_output_reads_where_and_why() -> None:
    said = (
        "Applying: add new.txt\nApplying: spell fifteen\n"
        "Using index info to reconstruct a base tree...\nM\thello.txt\n"
        "Falling back to patching base and 3-way merge...\nAuto-merging hello.txt\n"
        "CONFLICT (content): Merge conflict in hello.txt\n"
        "error: Failed to merge in the changes.\n"
        "hint: Use 'git am --show-current-patch=diff' to see the failed patch\n"
        "Patch failed at 0002 spell fifteen\n"
    )
    failure = parse_am_output(said)
    assert (failure.position, failure.subject, failure.files) == (2, "spell fifteen", ["hello.txt"])
    assert "hint:" not in failure.message and "CONFLICT (content)" in failure.message
    plain = parse_am_output(
        "error: patch failed: src/a.c:10\nerror: src/a.c: patch does not apply\n"
        "error: lib/b.c: does not exist in index\nPatch failed at 0001 fix a\n"
    )
    assert plain.files == ["src/a.c", "lib/b.c"] and plain.position == 1
    assert parse_am_output("fatal: something else").position is None


def test_rejected_hunks_splits_a_rej_file() -> None:
    rej = "diff a/x b/x\t(rejected hunks)\n@@ -1,2 +1,2 @@\n-a\n+b\n c\n@@ -9 +9 @@ f()\n-y\n+z\n"
    assert rejected_hunks(rej) == ["@@ -1,2 +1,2 @@\n-a\n+b\n c", "@@ -9 +9 @@ f()\n-y\n+z"]
