"""The commits a push brought: moved refs give old..new, new branches only what no other
branch had, a commit on two pushed refs comes once, parents before children."""

from __future__ import annotations

from repos.pushed_commits import pushed_commits
from repos.pushes import ZERO_SHA, RefChange
from tests.repos.helpers import git, work_tree


def _head(path, rev="HEAD") -> str:
    return git(path, "rev-parse", rev).stdout.strip()


def test_moved_and_new_refs(tmp_path) -> None:
    work = work_tree(tmp_path / "w", commits=2)
    old = _head(work)
    for i in range(2, 4):
        (work / f"n{i}").write_text("x\n")
        git(work, "add", ".")
        git(work, "commit", "-q", "-m", f"new {i}\n\nFixes: bugs#{i}")
    new = _head(work)
    git(work, "branch", "feature", "HEAD~1")
    # main moved old..new; 'feature' is new but holds nothing main does not.
    changes = [
        RefChange("refs/heads/main", old, new),
        RefChange("refs/heads/feature", ZERO_SHA, _head(work, "feature")),
    ]
    found = pushed_commits(work / ".git", changes)
    assert [c.info.subject for c in found] == ["new 2", "new 3"]
    assert found[0].refs == ("refs/heads/main", "refs/heads/feature")
    assert found[1].message.endswith("Fixes: bugs#3\n")
    assert not found[0].is_merge


def test_a_new_branch_brings_only_what_other_branches_lack(tmp_path) -> None:
    work = work_tree(tmp_path / "w", commits=2)
    git(work, "checkout", "-q", "-b", "topic")
    for i in range(3):
        (work / f"t{i}").write_text("x\n")
        git(work, "add", ".")
        git(work, "commit", "-q", "-m", f"topic {i}")
    found = pushed_commits(work / ".git", [RefChange("refs/heads/topic", ZERO_SHA, _head(work))])
    assert [c.info.subject for c in found] == ["topic 0", "topic 1", "topic 2"]
    parents = {c.sha: c.info.parents for c in found}
    seen: set[str] = set()
    for c in found:  # parents first
        assert not (set(c.info.parents) & set(parents)) - seen
        seen.add(c.sha)


def test_deleted_refs_and_missing_repositories_bring_nothing(tmp_path) -> None:
    work = work_tree(tmp_path / "w", commits=1)
    head = _head(work)
    assert pushed_commits(work / ".git", [RefChange("refs/heads/x", head, ZERO_SHA)]) == []
    assert pushed_commits(tmp_path / "none.git", [RefChange("refs/heads/x", ZERO_SHA, head)]) == []
