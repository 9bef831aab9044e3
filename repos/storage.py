"""The bare repositories on disk: where each lives, making and removing them, and the
environment every git process Mailyard starts on one gets.

Pushes reach Mailyard through git's own post-receive hook: `git receive-pack` (started by
the smart HTTP endpoint or the SSH shell) runs it with the ref updates on its standard
input, and it runs `mailyard repo hook post-receive`, which records the push
(`repos.pushes`). The hook is rewritten whenever Mailyard starts git on a repository,
so it always names the Python that runs Mailyard now.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import pygit2

from core.settings import Settings
from repos.models import PushVia, Repository

HOOK_NAMES = ("post-receive",)
# What git's processes started for a push must know (read by `repos.pushes`).
ENV_REPOSITORY_ID = "MAILYARD_REPOSITORY_ID"
ENV_PUSHER_ID = "MAILYARD_PUSHER_ID"
ENV_PUSH_VIA = "MAILYARD_PUSH_VIA"
# Settings a child process needs to find the same database and broker.
_SETTINGS_PASSED = (
    "data_dir",
    "database_url",
    "broker_url",
    "repos_dir",
    "domain",
    "base_url",
    "tasks_eager",
)


def repositories_root(settings: Settings) -> Path:
    return Path(settings.repos_dir)


def repository_path(settings: Settings, owner_name: str, name: str) -> Path:
    """repos/<owner>/<name>.git under the data directory (or MAILYARD_REPOS_DIR)."""
    return repositories_root(settings) / owner_name / f"{name}.git"


def path_of(settings: Settings, repository: Repository) -> Path:
    return repository_path(settings, repository.owner_name, repository.name)


def create_bare(path: Path, default_branch: str) -> pygit2.Repository:
    """A new bare repository whose HEAD names `default_branch`, with Mailyard's hooks and
    the settings the smart protocol needs (partial clone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    repo = pygit2.init_repository(str(path), bare=True, initial_head=f"refs/heads/{default_branch}")
    repo.config["uploadpack.allowFilter"] = True
    repo.config["uploadpack.allowAnySHA1InWant"] = True
    repo.config["receive.advertisePushOptions"] = True
    install_hooks(path)
    return repo


def install_hooks(path: Path) -> None:
    """Write Mailyard's hooks into the repository, unless they are there already as they
    should be (a push must not rewrite files another push is running)."""
    hooks = path / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in HOOK_NAMES:
        script = _hook_script(name)
        target = hooks / name
        try:
            if target.read_text() == script:
                continue
        except FileNotFoundError:
            pass
        temporary = hooks / f".{name}.{os.getpid()}"
        temporary.write_text(script)
        temporary.chmod(0o755)
        temporary.replace(target)


def _hook_script(name: str) -> str:
    # Only pushes Mailyard started (they set the repository id) are recorded: a push an
    # operator makes straight into the directory runs no Mailyard code.
    command = shlex.join([sys.executable, "-m", "mailyard", "repo", "hook", name])
    return (
        "#!/bin/sh\n"
        "# Written by Mailyard (repos.storage); rewritten when it changes.\n"
        f'[ -n "${ENV_REPOSITORY_ID}" ] || exit 0\n'
        f"exec {command}\n"
    )


def remove_tree(path: Path) -> None:
    """Remove a repository's directory (after its row is gone)."""
    shutil.rmtree(path, ignore_errors=True)
    try:
        path.parent.rmdir()  # the owner's directory, when it was the last one
    except OSError:
        pass


def git_environment(
    settings: Settings,
    repository: Repository,
    *,
    pusher_id: int | None = None,
    via: PushVia,
) -> dict[str, str]:
    """The environment for a git process on `repository`: the caller's, the settings a
    hook needs to reach the same database, and who pushes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILYARD_")}
    for name in _SETTINGS_PASSED:
        env[f"MAILYARD_{name.upper()}"] = str(getattr(settings, name))
    env[ENV_REPOSITORY_ID] = str(repository.id)
    env[ENV_PUSH_VIA] = via.value
    if pusher_id is not None:
        env[ENV_PUSHER_ID] = str(pusher_id)
    env.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    return env
