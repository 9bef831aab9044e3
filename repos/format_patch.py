"""A range of a hosted repository as `git format-patch` prints it, for sending from the web.

git itself writes the mails (subjects, `---` diffstat, `base-commit:`, the cover letter's
shortlog, `--range-diff`), so that what a contributor sends from the web is byte for byte
what they would have sent with `git format-patch` and `git send-email`. What a mail needs
beyond that (Message-IDs, From, notes) is `patchsets.send_series`'s work.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pygit2

from core.errors import UserError
from repos.browse import plain_git_env
from repos.commits import CommitInfo, commit_info, open_repository

# More than this is a pull request, not a series to read in a mail client.
MAX_PATCHES = 100

# Every mail of `format-patch --stdout` starts with this line; the sha is the commit's,
# or the tip's for the cover letter.
_SEPARATOR = re.compile(rb"^From ([0-9a-f]{40,64}) Mon Sep 17 00:00:00 2001\n", re.MULTILINE)


class RangeRefused(UserError):
    """The range cannot be sent: unknown revisions, no commits, merges, too many."""


@dataclass(frozen=True)
class FormattedMail:
    commit: str | None  # None for the cover letter
    raw: bytes  # the mail as git printed it, without the mbox `From ` line, LF line ends


def series_commits(path: Path, base: str, tip: str) -> list[CommitInfo]:
    """The commits of `base..tip`, oldest first; RangeRefused when it cannot be a series."""
    try:
        repo = open_repository(path)
    except pygit2.GitError:
        raise RangeRefused("the repository cannot be read") from None
    base_id, tip_id = _commit_id(repo, base), _commit_id(repo, tip)
    if tip_id is None:
        raise RangeRefused(f"no commit {tip!r} in this repository")
    if base_id is None:
        raise RangeRefused(f"no commit {base!r} in this repository")
    if base_id == tip_id:
        raise RangeRefused(f"{tip} has no commits after {base}")
    if not repo.descendant_of(tip_id, base_id):
        raise RangeRefused(f"{base} is not an ancestor of {tip}: pick a base on its branch")
    walker = repo.walk(tip_id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(base_id)
    commits = []
    for commit in walker:
        if len(commit.parents) > 1:
            raise RangeRefused(
                f"{str(commit.id)[:12]} is a merge: a series is a line of commits; "
                "pick a range without merges"
            )
        commits.append(commit_info(commit))
        if len(commits) > MAX_PATCHES:
            raise RangeRefused(
                f"more than {MAX_PATCHES} commits after {base}: send a smaller range"
            )
    return commits


def fork_point(path: Path, branch: str, tip: str) -> str | None:
    """Where `tip` left `branch` (`git merge-base`): the usual base of a series."""
    try:
        repo = open_repository(path)
    except pygit2.GitError:
        return None
    branch_id, tip_id = _commit_id(repo, f"refs/heads/{branch}"), _commit_id(repo, tip)
    if branch_id is None or tip_id is None:
        return None
    base = repo.merge_base(branch_id, tip_id)
    return str(base) if base is not None else None


def format_patches(
    path: Path,
    base: str,
    tip: str,
    *,
    version: int = 1,
    prefix: str = "PATCH",
    cover_letter: bool = False,
    range_diff: str | None = None,
    sender: tuple[str, str] = ("", ""),
) -> list[FormattedMail]:
    """`git format-patch --thread=shallow --base=BASE` of `base..tip`: the cover letter
    (when asked) first, then one mail per commit. `range_diff` (`OLD_BASE..OLD_TIP`) adds
    git's range-diff against a previous version, in the cover letter or below the `---`
    of a lone patch. `sender` (name, address) is who runs it: the cover letter is From
    them, as it would be in their own tree. Check the range with `series_commits` first."""
    args = [
        "format-patch",
        "--stdout",
        "--thread=shallow",
        f"--base={base}",
        f"--subject-prefix={prefix}",
    ]
    if version > 1:
        args.append(f"-v{version}")
    if cover_letter:
        args.append("--cover-letter")
    if range_diff:
        args.append(f"--range-diff={range_diff}")
    args += ["--end-of-options", f"{base}..{tip}"]
    env = plain_git_env()
    if all(sender):
        env.update(GIT_COMMITTER_NAME=sender[0], GIT_COMMITTER_EMAIL=sender[1])
    result = subprocess.run(
        ["git", "--git-dir", str(path), *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().split("\n")[-1]
        raise RangeRefused(f"git format-patch failed: {message}")
    return split_mbox(result.stdout, cover_letter=cover_letter)


def split_mbox(output: bytes, *, cover_letter: bool) -> list[FormattedMail]:
    """The mails of `format-patch --stdout` output, in order."""
    starts = list(_SEPARATOR.finditer(output))
    mails = []
    for i, found in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(output)
        raw = output[found.end() : end]
        # git ends every mail with an empty line, the mbox separator, not the mail's own.
        if raw.endswith(b"\n\n"):
            raw = raw[:-1]
        is_cover = cover_letter and i == 0
        mails.append(FormattedMail(None if is_cover else found.group(1).decode(), raw))
    return mails


def _commit_id(repo: pygit2.Repository, name: str) -> pygit2.Oid | None:
    try:
        return repo.revparse_single(name).peel(pygit2.Commit).id
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None
