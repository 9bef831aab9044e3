"""Apply an mbox of patches to a hosted repository with `git am -3`, as a maintainer would
in a clone, without a clone.

The contract: the repository changes in one step or not at all. `git am` runs in a
temporary worktree (detached, removed afterwards whatever happens) that writes its
objects straight into the repository; the branch then moves with one
`git update-ref REF NEW OLD`, which git refuses when the branch is no longer at OLD, so of
two applies racing for one branch one wins and the other is told to retry (`busy`). The
branch moves only by fast-forward; a series that cannot go on top of the branch goes to a
new branch or not at all. Nothing here knows about lists: `patchsets.apply` decides what
to apply and who may.

When `git am` stops, the failing patch is applied again with `git apply --reject` on the
state the earlier patches left, so the report can name the files and the very hunks that
did not apply, next to git am's own words (`parse_am_output`, `rejected_hunks`: pure).
"""

from __future__ import annotations

import enum
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from repos.browse import plain_git_env

ZERO_SHA = "0" * 40
# What `git am` prints when it stops: "Patch failed at 0002 the subject".
_FAILED_AT = re.compile(r"^Patch failed at (\d+) (.*)$", re.MULTILINE)
_CONFLICT = re.compile(r"^CONFLICT \([^)]*\): .*? in (.+)$", re.MULTILINE)
_PATCH_FAILED = re.compile(r"^error: patch failed: (.+):(\d+)$", re.MULTILINE)
_DOES_NOT_APPLY = re.compile(
    r"^error: (.+): (?:patch does not apply|does not exist in index|"
    r"No such file or directory|already exists in (?:index|working directory))$",
    re.MULTILINE,
)
# git am's advice on resuming by hand, which means nothing when no one holds the worktree.
_ADVICE = ("hint:", "When you have resolved", "If you prefer to skip", "To restore the original")
_HUNK_HEADER = re.compile(r"^@@ [^@]* @@.*$", re.MULTILINE)
_GIT_TIMEOUT = 300


class ApplyStatus(enum.Enum):
    clean = "clean"  # a dry run: it applies; nothing was written
    conflict = "conflict"  # `git am` stopped at a patch; nothing changed
    failed = "failed"  # could not even try (no such base, not a fast-forward...)
    busy = "busy"  # the branch moved meanwhile: try again
    applied = "applied"  # the branch holds the series


@dataclass(frozen=True)
class Identity:
    """Who applies: the committer of the new commits (and their Signed-off-by)."""

    name: str
    email: str


@dataclass(frozen=True)
class FailedFile:
    path: str
    hunks: list[str] = field(default_factory=list)  # each a rejected hunk, header first


@dataclass(frozen=True)
class AmFailure:
    """Where and why `git am` stopped (pure reading of its output)."""

    position: int | None  # 1-based, in the mbox
    subject: str
    files: list[str]
    message: str


@dataclass
class ApplyResult:
    status: ApplyStatus
    branch: str
    base_sha: str = ""
    old_sha: str = ""  # the branch before (ZERO_SHA for a new branch)
    new_sha: str = ""
    commits: list[str] = field(default_factory=list)  # oldest first
    failure: AmFailure | None = None
    files: list[FailedFile] = field(default_factory=list)
    note: str = ""  # how the base was chosen, or why it could not go on


@dataclass(frozen=True)
class ApplyRequest:
    """What to apply where. `base` is a revision to apply on (else `base_commit` when the
    repository has it and the branch contains it, else the branch head); `new_branch`
    receives the result instead of `branch` (which must then not exist yet)."""

    mbox: bytes
    branch: str
    committer: Identity
    base: str | None = None
    base_commit: str | None = None
    new_branch: str | None = None
    signoff: bool = False
    dry_run: bool = False


def parse_am_output(text: str) -> AmFailure:
    """What `git am` said when it stopped: the patch's position and subject, the files it
    names, and its message without the hints."""
    failed = _FAILED_AT.search(text)
    files: list[str] = []
    for pattern in (_CONFLICT, _PATCH_FAILED, _DOES_NOT_APPLY):
        for match in pattern.finditer(text):
            if match.group(1) not in files:
                files.append(match.group(1))
    message = "\n".join(
        line for line in text.splitlines() if line.strip() and not line.startswith(_ADVICE)
    )
    return AmFailure(
        position=int(failed.group(1)) if failed else None,
        subject=failed.group(2).strip() if failed else "",
        files=files,
        message=message,
    )


def rejected_hunks(rej_text: str) -> list[str]:
    """The hunks of a `.rej` file that `git apply --reject` wrote, each from its `@@`
    header to the next."""
    starts = [m.start() for m in _HUNK_HEADER.finditer(rej_text)]
    ends = [*starts[1:], len(rej_text)]
    return [rej_text[a:b].rstrip("\n") for a, b in zip(starts, ends, strict=True)]


def apply_mbox(path: Path, request: ApplyRequest) -> ApplyResult:
    """Apply `request.mbox` to the bare repository at `path` (see the module's contract)."""
    target = request.new_branch or request.branch
    result = ApplyResult(status=ApplyStatus.failed, branch=target)
    head = _rev(path, f"refs/heads/{request.branch}")
    if request.new_branch:
        existing = _rev(path, f"refs/heads/{request.new_branch}")
        if existing:
            result.note = f"the branch {request.new_branch} already exists"
            return result
    elif head is None:
        result.note = f"the repository has no branch {request.branch}"
        return result
    base, result.note = _choose_base(path, request, head)
    if base is None:
        return result
    result.base_sha = base
    result.old_sha = ZERO_SHA if request.new_branch else (head or "")
    if not request.new_branch and base != head:
        result.note = (
            f"{base[:12]} is not the head of {request.branch}: the series would not "
            f"fast-forward it; apply it to a new branch instead"
        )
        return result
    scratch = Path(tempfile.mkdtemp(prefix="mailyard-apply-"))
    worktree = scratch / "tree"
    try:
        _git(path, ["worktree", "add", "--detach", "--quiet", str(worktree), base])
        am = _am(worktree, scratch, request)
        if am.returncode != 0:
            result.status = ApplyStatus.conflict
            result.failure = parse_am_output(am.stdout + am.stderr)
            result.files = _rejected_files(worktree, scratch, result.failure)
            return result
        tip = _git(worktree, ["rev-parse", "HEAD"]).strip()
        listed = _git(worktree, ["rev-list", "--reverse", f"{base}..{tip}"])
        result.commits = listed.split()
        result.new_sha = tip
        if not result.commits:
            result.note = f"the series changes nothing on {base[:12]}: is it applied already?"
            return result
        if request.dry_run:
            result.status = ApplyStatus.clean
            return result
        moved = subprocess.run(
            ["git", "--git-dir", str(path), "update-ref", "-m", "mailyard: apply series",
             f"refs/heads/{target}", tip, result.old_sha],
            capture_output=True, text=True, env=plain_git_env(), check=False,
        )  # fmt: skip
        if moved.returncode != 0:
            result.status = ApplyStatus.busy
            result.note = f"{target} moved while the series was being applied: try again"
            return result
        result.status = ApplyStatus.applied
        return result
    finally:
        subprocess.run(
            ["git", "--git-dir", str(path), "worktree", "remove", "--force", str(worktree)],
            capture_output=True, env=plain_git_env(), check=False,
        )  # fmt: skip
        subprocess.run(
            ["git", "--git-dir", str(path), "worktree", "prune"],
            capture_output=True, env=plain_git_env(), check=False,
        )  # fmt: skip
        shutil.rmtree(scratch, ignore_errors=True)


def _choose_base(path: Path, request: ApplyRequest, head: str | None) -> tuple[str | None, str]:
    if request.base:
        base = _rev(path, request.base)
        return (base, "") if base else (None, f"no revision {request.base} in the repository")
    if request.base_commit:
        found = _rev(path, request.base_commit)
        if found is None:
            if head is None:
                return None, f"its base-commit {request.base_commit[:12]} is not in the repository"
            return head, (
                f"its base-commit {request.base_commit[:12]} is not in the repository: "
                f"applied on {request.branch}"
            )
        if head and found != head and _is_ancestor(path, found, head):
            # Written against an older state of the branch: go on top of the branch, and
            # let `git am -3` use the base's blobs where the context moved.
            return head, f"its base-commit {found[:12]} is behind {request.branch}: applied on top"
        return found, ""
    if head is None:
        return None, f"the repository has no branch {request.branch}"
    return head, ""


def _am(worktree: Path, scratch: Path, request: ApplyRequest) -> subprocess.CompletedProcess:
    mbox = scratch / "series.mbox"
    mbox.write_bytes(request.mbox)
    args = ["git", "am", "-3"]
    if request.signoff:
        args.append("--signoff")
    return subprocess.run(
        [*args, str(mbox)],
        cwd=worktree,
        capture_output=True,
        text=True,
        env=_identity_env(request.committer),
        timeout=_GIT_TIMEOUT,
        check=False,
    )


def _rejected_files(worktree: Path, scratch: Path, failure: AmFailure) -> list[FailedFile]:
    """The files and hunks of the failing patch that do not apply on what the earlier
    patches left (the worktree's HEAD)."""
    shown = subprocess.run(
        ["git", "am", "--show-current-patch=diff"],
        cwd=worktree, capture_output=True, env=plain_git_env(), check=False,
    )  # fmt: skip
    patch = scratch / "failed.patch"
    patch.write_bytes(shown.stdout)
    _git(worktree, ["am", "--abort"], check=False)
    _git(worktree, ["reset", "--hard", "--quiet", "HEAD"], check=False)
    subprocess.run(
        ["git", "apply", "--reject", str(patch)],
        cwd=worktree, capture_output=True, env=plain_git_env(), check=False,
    )  # fmt: skip
    found = []
    for rej in sorted(worktree.rglob("*.rej")):
        name = rej.relative_to(worktree).as_posix()[: -len(".rej")]
        found.append(FailedFile(path=name, hunks=rejected_hunks(rej.read_text("utf-8", "replace"))))
    listed = {f.path for f in found}
    # A file the patch creates or deletes, or one missing here, leaves no .rej.
    found.extend(FailedFile(path=name) for name in failure.files if name not in listed)
    return found


def _identity_env(who: Identity) -> dict[str, str]:
    env = plain_git_env()
    env.update(
        GIT_COMMITTER_NAME=who.name,
        GIT_COMMITTER_EMAIL=who.email,
        # git am refuses to run without an identity even though authors come from mail.
        GIT_AUTHOR_NAME=who.name,
        GIT_AUTHOR_EMAIL=who.email,
    )
    return env


def _rev(path: Path, revision: str) -> str | None:
    if revision.startswith("-"):
        return None
    shown = subprocess.run(
        ["git", "--git-dir", str(path), "rev-parse", "--verify", "--quiet",
         f"{revision}^{{commit}}"],
        capture_output=True, text=True, env=plain_git_env(), check=False,
    )  # fmt: skip
    return shown.stdout.strip() or None if shown.returncode == 0 else None


def _is_ancestor(path: Path, older: str, newer: str) -> bool:
    return (
        subprocess.run(
            ["git", "--git-dir", str(path), "merge-base", "--is-ancestor", older, newer],
            capture_output=True,
            env=plain_git_env(),
            check=False,
        ).returncode  # fmt: skip
        == 0
    )


def _git(where: Path, args: list[str], *, check: bool = True) -> str:
    location = ["--git-dir", str(where)] if (where / "HEAD").is_file() else []
    done = subprocess.run(
        ["git", *location, *args],
        cwd=where if not location else None,
        capture_output=True,
        text=True,
        env=plain_git_env(),
        timeout=_GIT_TIMEOUT,
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout
