"""Which pushed commits are which archived patches (pure: facts in, matches out).

A commit is tried three ways, in order, and the first that finds anything decides:
1. its `Link:` / `Message-Id:` trailers name the patch mail (patchew's way; what
   `b4 am` and Mailyard's own apply add);
2. its `git patch-id --stable` is the patch's (the same diff, whatever the context);
3. the same author, subject and files as a patch of an open patchset: a patch rebased
   onto a base that moved under it changes its diff's context, so its patch id (and
   Patchwork's hash, which also hashes context lines) no longer matches, but a
   maintainer who rebases keeps who wrote it, what it says and what it touches.
Then every other copy and version of a matched patch (the same patch id) is marked too.
A squash of several patches matches none of them: its diff, subject and files are its own.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from patchsets.models import MatchMethod
from patchsets.trailers import commit_trailers

_MESSAGE_ID = re.compile(r"<?([^<>\s]+@[^<>\s]+)>?")


@dataclass(frozen=True)
class CommitFacts:
    sha: str
    author_email: str
    subject: str
    patch_id: str | None
    files: frozenset[str]
    message_ids: tuple[str, ...]  # named by its Link: / Message-Id: trailers


@dataclass(frozen=True)
class PatchFacts:
    message_pk: int
    message_id: str
    patch_id: str | None
    author_email: str
    name: str  # the subject without its [PATCH ...] prefix
    files: frozenset[str]
    is_open: bool  # its patchset still waits for a decision


@dataclass(frozen=True)
class Match:
    message_pk: int
    sha: str
    method: MatchMethod


def message_ids_in(commit_message: str) -> tuple[str, ...]:
    """The Message-IDs a commit's `Link:` and `Message-Id:` trailers name: a Link's last
    path segment when it holds an `@` (lore's /r/ID, Mailyard's /LIST/ID/)."""
    found: list[str] = []
    for trailer in commit_trailers(commit_message):
        name = trailer.name.lower()
        if name == "link":
            segments = [s for s in urlsplit(trailer.value.strip()).path.split("/") if s]
            candidate = unquote(segments[-1]) if segments else ""
        elif name == "message-id":
            candidate = trailer.value
        else:
            continue
        match = _MESSAGE_ID.fullmatch(candidate.strip())
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return tuple(found)


def same_change_key(author_email: str, subject: str, files: Iterable[str]) -> tuple:
    """What the rebase fallback compares: author, subject (spacing and case aside) and
    the set of files touched."""
    return (author_email.strip().lower(), " ".join(subject.split()).casefold(), frozenset(files))


def match_commits(commits: Sequence[CommitFacts], patches: Sequence[PatchFacts]) -> list[Match]:
    """Every (patch, commit) pair the module's rules find, each once."""
    by_message_id: dict[str, list[PatchFacts]] = defaultdict(list)
    by_patch_id: dict[str, list[PatchFacts]] = defaultdict(list)
    by_change: dict[tuple, list[PatchFacts]] = defaultdict(list)
    for patch in patches:
        by_message_id[patch.message_id].append(patch)
        if patch.patch_id:
            by_patch_id[patch.patch_id].append(patch)
        if patch.is_open and patch.files:
            by_change[same_change_key(patch.author_email, patch.name, patch.files)].append(patch)
    found: dict[tuple[int, str], Match] = {}

    def note(hits: Iterable[PatchFacts], sha: str, method: MatchMethod) -> None:
        for hit in hits:
            found.setdefault((hit.message_pk, sha), Match(hit.message_pk, sha, method))
            # Its other copies and versions: the same diff sent again.
            for twin in by_patch_id.get(hit.patch_id or "", ()):
                found.setdefault((twin.message_pk, sha), Match(twin.message_pk, sha, method))

    for commit in commits:
        named = [p for mid in commit.message_ids for p in by_message_id.get(mid, ())]
        if named:
            note(named, commit.sha, MatchMethod.message_id)
            continue
        same_diff = by_patch_id.get(commit.patch_id or "", []) if commit.patch_id else []
        if same_diff:
            note(same_diff, commit.sha, MatchMethod.patch_id)
            continue
        key = same_change_key(commit.author_email, commit.subject, commit.files)
        note(by_change.get(key, ()), commit.sha, MatchMethod.similar)
    return list(found.values())
