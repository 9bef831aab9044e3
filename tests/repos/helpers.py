"""What the repository tests share: a work tree with commits, and git run plainly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def git_env(**extra: str) -> dict[str, str]:
    """A plain environment for git: this test's identity, no MAILYARD_* or GIT_* of the
    caller's (merge it over `repos.storage.git_environment` to push as Mailyard would)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MAILYARD_"))}
    env.update(GIT_IDENTITY, HOME=os.environ.get("HOME", "/tmp"), **extra)
    return env


def git(cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True):
    """Run git in `cwd`; the completed process (text)."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=env or git_env(),
        capture_output=True,
        text=True,
        check=check,
    )


def work_tree(path: Path, commits: int = 3, branch: str = "main") -> Path:
    """A repository at `path` with `commits` commits on `branch`, each adding a file."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", branch)
    for i in range(commits):
        (path / f"file{i}.txt").write_text(f"line {i}\n")
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", f"commit {i}")
    return path


def fast_import_commits(tree: Path, messages: list[str], path: str = "many.txt") -> None:
    """One commit per message on top of `tree`'s main, each rewriting `path`, written by
    `git fast-import` (thousands in a second), then checked out."""
    stream = []
    for i, message in enumerate(messages):
        data = f"{i}\n"
        stamp = f"{1700000000 + i} +0000"
        stream.append(
            f"commit refs/heads/main\nauthor Bo <bo@example.org> {stamp}\n"
            f"committer Bo <bo@example.org> {stamp}\n"
            f"data {len(message.encode())}\n{message}\n"
            f"{'from refs/heads/main^0' + chr(10) if i == 0 else ''}"
            f"M 100644 inline {path}\ndata {len(data)}\n{data}\n"
        )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=tree, input="".join(stream),
                   text=True, check=True, env=git_env())  # fmt: skip
    git(tree, "reset", "-q", "--hard", "main")
