"""The commits a push brought: what the push hooks (patches applied, tickets closed,
builds) read, walked once with pygit2 so that a hook can look them all up in bulk.

For every ref the push moved or created, the commits reachable from its new tip and not
from what the repository already had: its old tip (a moved ref), and the tips of every
ref the push did not touch (for a new branch, only the commits no other branch had). A
commit reached through several refs is listed once. Deleted refs bring nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from repos.commits import CommitInfo, commit_info, open_repository
from repos.pushes import RefChange


@dataclass(frozen=True)
class PushedCommit:
    info: CommitInfo
    message: str  # the whole commit message, as git keeps it
    refs: tuple[str, ...]  # the pushed refs it arrived on, in push order

    @property
    def sha(self) -> str:
        return self.info.sha

    @property
    def is_merge(self) -> bool:
        return len(self.info.parents) > 1


def pushed_commits(path: Path, changes: Sequence[RefChange]) -> list[PushedCommit]:
    """The push's new commits, oldest first (parents before children); [] when the
    repository cannot be opened. Tips that are not commits (a tag of a tree) and shas
    the repository lacks are skipped."""
    try:
        repo = open_repository(path)
    except pygit2.GitError:
        return []
    pushed = {c.ref for c in changes}
    known = [_commit_id(repo, c.old) for c in changes if not c.created]
    for ref in repo.references:
        if ref not in pushed:
            known.append(_commit_id(repo, ref))
    hidden = [oid for oid in known if oid is not None]
    walks: list[list[pygit2.Commit]] = []
    arrived: dict[str, list[str]] = {}
    for change in changes:
        tip = None if change.deleted else _commit_id(repo, change.new)
        if tip is None:
            continue
        walker = repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL)
        for oid in hidden:
            walker.hide(oid)
        new = []
        for commit in walker:
            sha = str(commit.id)
            if sha not in arrived:
                new.append(commit)
            arrived.setdefault(sha, []).append(change.ref)
        walks.append(new)
    # Each walk is children first: reversed, its commits come after their parents; and a
    # later walk's new commits may have parents in an earlier walk, never children.
    return [
        PushedCommit(commit_info(c), c.message or "", tuple(arrived[str(c.id)]))
        for new in walks
        for c in reversed(new)
    ]


def _commit_id(repo: pygit2.Repository, name: str) -> pygit2.Oid | None:
    """The commit a sha or ref name stands for (tags peeled), or None."""
    try:
        obj = repo.revparse_single(name)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return commit.id if commit is not None else None
