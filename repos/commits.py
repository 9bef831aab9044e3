"""Reading commits with pygit2: what the summary, the project page and the log show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pygit2


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    subject: str
    author_name: str
    author_email: str
    authored_at: datetime  # in the author's own time zone
    parents: tuple[str, ...]

    @property
    def short(self) -> str:
        return self.sha[:12]


def commit_info(commit: pygit2.Commit) -> CommitInfo:
    author = commit.author
    zone = timezone(timedelta(minutes=author.offset))
    message = commit.message or ""
    return CommitInfo(
        sha=str(commit.id),
        subject=message.split("\n", 1)[0].strip(),
        author_name=author.name,
        author_email=author.email,
        authored_at=datetime.fromtimestamp(author.time, UTC).astimezone(zone),
        parents=tuple(str(p) for p in commit.parent_ids),
    )


def open_repository(path: Path) -> pygit2.Repository:
    return pygit2.Repository(str(path))


def head_commit(repo: pygit2.Repository, branch: str) -> pygit2.Commit | None:
    """The tip of `branch`, else of HEAD, else None (an empty repository)."""
    for name in (f"refs/heads/{branch}", "HEAD"):
        try:
            target = repo.revparse_single(name)
        except (KeyError, ValueError, pygit2.GitError):
            continue
        commit = target.peel(pygit2.Commit)
        if commit is not None:
            return commit
    return None


def recent_commits(path: Path, branch: str, limit: int = 10) -> list[CommitInfo]:
    """The newest `limit` commits on `branch` (newest first, by commit time); [] for an
    empty repository or a missing directory."""
    try:
        repo = open_repository(path)
    except pygit2.GitError:
        return []
    tip = head_commit(repo, branch)
    if tip is None:
        return []
    found = []
    # git's own order (libgit2's default): newest first, children before parents even
    # within one second, and incremental, where TIME and TOPOLOGICAL sorting walk the
    # whole history before the first commit.
    for commit in repo.walk(tip.id, pygit2.enums.SortMode.NONE):
        found.append(commit_info(commit))
        if len(found) == limit:
            break
    return found


def has_commit(path: Path, sha: str) -> bool:
    """Whether the repository at `path` has the commit `sha` (a full or abbreviated id);
    False for a missing directory or an id that is not a commit."""
    try:
        obj = open_repository(path).revparse_single(sha)
    except (KeyError, ValueError, pygit2.GitError):
        return False
    return obj.peel(pygit2.Commit) is not None
