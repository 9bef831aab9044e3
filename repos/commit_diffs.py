"""Many commits' diffs from one git process, for the push hooks that hash them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from repos.browse import plain_git_env


def commit_diffs(path: Path, shas: list[str]) -> dict[str, str]:
    """Each commit's diff against its first parent (against nothing for a root), as
    `git format-patch` would write it (renames found), from one `git diff-tree` for all
    of them: what a push hook hashes into patch ids."""
    if not shas:
        return {}
    wanted = set(shas)
    done = subprocess.run(
        ["git", "--git-dir", str(path), "diff-tree", "--stdin", "-p", "-r", "-M", "--root",
         "--no-color", "--no-ext-diff", "--full-index"],
        input="\n".join(shas) + "\n", capture_output=True, text=True, errors="surrogateescape",
        env=plain_git_env(), check=False,
    )  # fmt: skip
    diffs: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in done.stdout.split("\n"):
        if len(line) == 40 and line in wanted:
            current = diffs.setdefault(line, [])
        elif current is not None:
            current.append(line)
    return {sha: "\n".join(lines) for sha, lines in diffs.items()}
