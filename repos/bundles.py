"""Whole repositories in and out: a repository as a git bundle (what its admins
download), and a repository's history imported from a local repository, a bundle, or a
git URL on this machine (`mailyard repo import`).

An import is recorded as a push (`repos.pushes`): `git fetch` into a bare repository
runs no post-receive hook, so the import reads the refs the fetch made and records them
itself; the push hooks then see the imported history as they see pushed history.
"""

from __future__ import annotations

import enum
import logging
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import pygit2
from sqlalchemy.orm import Session

from core.errors import UserError
from core.settings import Settings
from repos import storage
from repos.models import Push, PushVia, Repository
from repos.pushes import ZERO_SHA, RefChange, record_push
from repos.repositories import RepoError, update_repository

log = logging.getLogger(__name__)

# What an import takes: every branch and tag, as the source has them.
IMPORT_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
IMPORTED_REFS = ("refs/heads/", "refs/tags/")
# An http(s) source must be on this machine: `mailyard repo import` is not a way to make
# the server fetch from anywhere.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CHUNK = 64 * 1024
PREFERRED_BRANCHES = ("main", "master")


class EmptyRepository(UserError):
    """A repository without branches or tags: there is nothing to bundle."""


class SourceKind(enum.Enum):
    repository = "repository"  # a local directory git can fetch from
    bundle = "bundle"  # a file made by `git bundle create`
    url = "url"  # file://, or http(s) to this machine


@dataclass(frozen=True)
class ImportSource:
    kind: SourceKind
    location: str  # what `git fetch` is given


# -- bundles -------------------------------------------------------------------------------


def bundle_chunks(
    settings: Settings, repository: Repository, *, user_id: int | None = None
) -> ProcessOutput:
    """The repository as `git bundle create - --all` writes it, every ref and HEAD, in
    chunks as git makes them (never the whole bundle in memory). `EmptyRepository` at
    once when there is nothing to bundle: git would write no bundle at all."""
    path = storage.path_of(settings, repository)
    if not refs_of(path):
        raise EmptyRepository(f"{repository.path_name} is empty: there is nothing to bundle yet")
    errors = tempfile.TemporaryFile()
    process = subprocess.Popen(
        ["git", "bundle", "create", "--quiet", "-", "--all"],
        cwd=path,
        env=storage.git_environment(settings, repository, pusher_id=user_id, via=PushVia.web),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=errors,
    )
    return ProcessOutput(process, errors, repository.path_name)


class ProcessOutput:
    """What a process writes, as an iterator of chunks. `close()` (which the web
    server calls when a download ends, even one never read, such as a HEAD request's)
    ends the process rather than leaving it writing to nobody."""

    def __init__(self, process: subprocess.Popen, errors: IO[bytes], name: str) -> None:
        self.process, self.errors, self.name = process, errors, name

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        assert self.process.stdout is not None
        chunk = self.process.stdout.read(CHUNK)
        if chunk:
            return chunk
        if self.process.wait() != 0:
            self.errors.seek(0)
            log.error("git bundle create of %s failed: %r", self.name, self.errors.read()[-2000:])
        self.close()
        raise StopIteration

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.errors.close()


def write_bundle(settings: Settings, repository: Repository, target: Path) -> int:
    """The repository's bundle written to `target`; its size in bytes."""
    size = 0
    chunks = bundle_chunks(settings, repository)
    try:
        with target.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
    finally:
        chunks.close()
    return size


# -- importing -----------------------------------------------------------------------------


def source_of(text: str) -> ImportSource:
    """What SOURCE names: a URL (file://, or http(s) to this machine), a bundle file, or
    a local repository directory. RepoError for anything else."""
    text = text.strip()
    if "://" in text:
        return ImportSource(SourceKind.url, check_import_url(text))
    path = Path(text).expanduser()
    if path.is_dir():
        return ImportSource(SourceKind.repository, str(path.resolve()))
    if path.is_file():
        return ImportSource(SourceKind.bundle, str(path.resolve()))
    raise RepoError(f"{text}: no such repository, bundle or URL")


def check_import_url(url: str) -> str:
    """`url` if an import may fetch from it: file://, or http(s) to 127.0.0.1 or
    localhost (a public-inbox style archive served on this machine)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if any(c.isspace() or not c.isprintable() for c in url):
        raise RepoError(f"{url!r} is not a URL")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise RepoError(f"{url}: a file:// URL names a path on this machine (file:///PATH)")
        return url
    if scheme in ("http", "https"):
        if (parts.hostname or "") not in LOCAL_HOSTS:
            raise RepoError(
                f"{url}: http(s) imports come from this machine only (127.0.0.1 or localhost)"
            )
        return url
    raise RepoError(f"{url}: import from a path, a bundle, file:// or http(s) on this machine")


def import_history(
    session: Session,
    settings: Settings,
    repository: Repository,
    source: ImportSource,
    *,
    pusher_id: int | None = None,
) -> Push | None:
    """Fetch every branch and tag of `source` into `repository`, make HEAD the source's
    default branch, and record what changed as a push (the caller commits, then
    `repos.tasks.enqueue_hooks`). None when the source has no branch or tag."""
    path = storage.path_of(settings, repository)
    env = {
        **storage.git_environment(settings, repository, pusher_id=pusher_id, via=PushVia.local),
        "GIT_TERMINAL_PROMPT": "0",  # an operator's terminal never gets a password prompt
    }
    if source.kind is SourceKind.bundle:
        _git(path, env, "bundle", "verify", "--quiet", source.location)
    before = refs_of(path)
    _git(path, env, "fetch", "--prune", "--quiet", source.location, *IMPORT_REFSPECS)
    after = refs_of(path)
    listed = _git(path, env, "ls-remote", "--symref", source.location, "HEAD").stdout
    branch = choose_default_branch(*parse_remote_head(listed), after, repository.default_branch)
    if branch is not None:
        update_repository(session, settings, repository, default_branch=branch)
    changes = ref_changes(before, after)
    if not changes:
        return None
    return record_push(session, repository, changes, pusher_id=pusher_id, via=PushVia.local)


def refs_of(path: Path) -> dict[str, str]:
    """The repository's branches and tags: ref -> the object it names (a tag's own
    object for an annotated tag, as git's hooks see it)."""
    repo = pygit2.Repository(str(path))
    found = {}
    for name in repo.references:
        if name.startswith(IMPORTED_REFS):
            found[name] = str(repo.references[name].resolve().target)
    return found


def ref_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[RefChange]:
    """What moved between two readings of the refs, as post-receive would list it."""
    changes = []
    for ref in sorted(before.keys() | after.keys()):
        old, new = before.get(ref, ZERO_SHA), after.get(ref, ZERO_SHA)
        if old != new:
            changes.append(RefChange(ref=ref, old=old, new=new))
    return changes


def parse_remote_head(text: str) -> tuple[str | None, str | None]:
    """`git ls-remote --symref SOURCE HEAD` -> (the branch ref HEAD names, HEAD's
    commit); either is None when the source does not say (a bundle names no branch)."""
    symref = sha = None
    for line in text.splitlines():
        first, _, rest = line.partition("\t")
        if rest.strip() != "HEAD":
            continue
        if first.startswith("ref: "):
            symref = first.removeprefix("ref: ").strip()
        elif first.strip():
            sha = first.strip()
    return symref, sha


def choose_default_branch(
    head_ref: str | None, head_sha: str | None, refs: Mapping[str, str], current: str
) -> str | None:
    """The branch HEAD should name after an import: the one the source's HEAD names,
    else one at HEAD's commit (as `git clone` guesses for a bundle), else the current
    default if it exists, main or master; None when there is no branch at all."""
    branches = {
        ref.removeprefix("refs/heads/"): sha
        for ref, sha in refs.items()
        if ref.startswith("refs/heads/")
    }
    if not branches:
        return None
    if head_ref and head_ref.startswith("refs/heads/"):
        named = head_ref.removeprefix("refs/heads/")
        if named in branches:
            return named
    preferred = [current, *PREFERRED_BRANCHES, *sorted(branches)]
    if head_sha:
        at_head = [b for b in preferred if branches.get(b) == head_sha]
        if at_head:
            return at_head[0]
    return next(b for b in preferred if b in branches)


def _git(path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """git in the repository; RepoError with git's own last line when it fails."""
    result = subprocess.run(
        ["git", *args], cwd=path, env=env, capture_output=True, text=True, errors="replace"
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit status {result.returncode}"
        raise RepoError(f"git {args[0]} failed: {reason}")
    return result
