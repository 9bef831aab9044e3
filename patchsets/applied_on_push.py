"""Mark patches applied when their commits are pushed (a `repos.hooks.AFTER_PUSH` hook).

For every new non-merge commit of the push (`repos.pushed_commits`: new branches too, the
whole old..new range), the patches of the lists linked to the repository are matched by
`patchsets.commit_match`; each match is a `PatchCommit` (method recorded), and a
patchset whose current patches are all matched becomes `applied`, unless it was already
decided (applied, rejected) or superseded by a later version. A patchset with some of
its patches matched is shown as partially applied on its page; that is not a status.

The number of queries does not grow with the number of commits: the diffs come from one
`git diff-tree`, and each lookup below is one query per 500 keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from accounts.access import Actor
from accounts.models import User
from archive.models import Message
from core.settings import get_settings
from patchsets.commit_match import (
    CommitFacts,
    Match,
    PatchFacts,
    match_commits,
    message_ids_in,
)
from patchsets.diff import diff_files
from patchsets.models import (
    ClassifiedMessage,
    MatchMethod,
    PatchCommit,
    Patchset,
    PatchsetPatch,
    PatchsetStatus,
)
from patchsets.patch_id import git_patch_id
from patchsets.queries import inbody_author
from patchsets.repositories import lists_of_repository
from patchsets.status import record_statuses
from repos.access import RepoRight
from repos.access import may as may_on_repo
from repos.commit_diffs import commit_diffs
from repos.models import Push, RefUpdate, Repository
from repos.pushed_commits import PushedCommit, pushed_commits
from repos.pushes import changes_of
from repos.storage import path_of

CHUNK = 500
# What a push may still decide; the rest was decided by people (or by a later version).
UNDECIDED = (PatchsetStatus.proposed, PatchsetStatus.needs_revision, PatchsetStatus.approved)


@dataclass(frozen=True)
class _Candidate:
    facts: PatchFacts
    patchset_id: int


def mark_applied_on_push(session: Session, push: Push, updates: Sequence[RefUpdate]) -> None:
    repository = session.get(Repository, push.repository_id)
    if repository is None:
        return
    list_ids = lists_of_repository(session, repository.id)
    if not list_ids:
        return
    path = path_of(get_settings(), repository)
    commits = [c for c in pushed_commits(path, changes_of(updates)) if not c.is_merge]
    if not commits:
        return
    facts = commit_facts(commits, commit_diffs(path, [c.sha for c in commits]))
    candidates = _candidates(session, list_ids, facts)
    matches = match_commits(facts, [c.facts for c in candidates])
    _record(session, repository, push, matches, candidates)


def commit_facts(commits: Iterable[PushedCommit], diffs: dict[str, str]) -> list[CommitFacts]:
    """What the matcher knows of each commit (pure)."""
    out = []
    for commit in commits:
        diff = diffs.get(commit.sha, "")
        out.append(
            CommitFacts(
                sha=commit.sha,
                author_email=commit.info.author_email.lower(),
                subject=commit.info.subject,
                patch_id=git_patch_id(diff) if diff else None,
                files=frozenset(f.path for f in diff_files(diff)) if diff else frozenset(),
                message_ids=message_ids_in(commit.message),
            )
        )
    return out


def _candidates(
    session: Session, list_ids: list[int], commits: list[CommitFacts]
) -> list[_Candidate]:
    """The linked lists' patches any commit might be: named by a trailer, with one of
    the commits' patch ids, or (in open patchsets) with one of their subjects."""
    message_ids = sorted({mid for c in commits for mid in c.message_ids})
    patch_ids = sorted({c.patch_id for c in commits if c.patch_id})
    subjects = sorted({c.subject for c in commits if c.subject})
    base = (
        select(PatchsetPatch, Patchset.status, ClassifiedMessage)
        .join(Patchset, Patchset.id == PatchsetPatch.patchset_id)
        .join(ClassifiedMessage, ClassifiedMessage.message_pk == PatchsetPatch.message_pk)
        .where(Patchset.list_id.in_(list_ids), PatchsetPatch.replaced.is_(False))
    )
    rows: dict[tuple[int, int], tuple] = {}
    for chunk in _chunks(message_ids):
        _collect(rows, session.execute(base.where(PatchsetPatch.message_id.in_(chunk))))
    for chunk in _chunks(patch_ids):
        _collect(rows, session.execute(base.where(ClassifiedMessage.patch_id.in_(chunk))))
    for chunk in _chunks(subjects):
        query = base.where(ClassifiedMessage.name.in_(chunk), Patchset.status.in_(UNDECIDED))
        _collect(rows, session.execute(query))
    # Every version of what was found: a matched patch marks its twins too.
    twins = sorted({c.patch_id for _, _, c in rows.values() if c.patch_id} - set(patch_ids))
    for chunk in _chunks(twins):
        _collect(rows, session.execute(base.where(ClassifiedMessage.patch_id.in_(chunk))))
    authors = _authors(session, {patch.message_pk for patch, _, _ in rows.values()})
    return [
        _Candidate(
            PatchFacts(
                message_pk=patch.message_pk,
                message_id=patch.message_id,
                patch_id=classified.patch_id,
                author_email=authors.get(patch.message_pk, ""),
                name=classified.name,
                files=frozenset(classified.files or ()),
                is_open=status in UNDECIDED,
            ),
            patch.patchset_id,
        )
        for patch, status, classified in rows.values()
    ]


def _collect(rows: dict, result) -> None:
    for patch, status, classified in result:
        rows[(patch.patchset_id, patch.message_pk)] = (patch, status, classified)


def _authors(session: Session, message_pks: set[int]) -> dict[int, str]:
    """Each patch's author address, lower-cased: the in-body From when there is one."""
    out: dict[int, str] = {}
    for chunk in _chunks(sorted(message_pks)):
        query = select(Message.id, Message.from_addr, Message.body).where(Message.id.in_(chunk))
        for pk, from_addr, body in session.execute(query):
            inbody = inbody_author(body or "")
            address = inbody.rpartition("<")[2].rstrip(">").strip() if inbody else from_addr
            out[pk] = (address or "").lower()
    return out


def _record(
    session: Session,
    repository: Repository,
    push: Push,
    matches: list[Match],
    candidates: list[_Candidate],
) -> None:
    if not matches:
        return
    pairs = sorted({(m.message_pk, m.sha) for m in matches})
    known: set[tuple[int, str]] = set()
    for chunk in _chunks(pairs):
        query = select(PatchCommit.message_pk, PatchCommit.commit_sha).where(
            PatchCommit.repository_id == repository.id,
            tuple_(PatchCommit.message_pk, PatchCommit.commit_sha).in_(chunk),
        )
        known.update((pk, sha) for pk, sha in session.execute(query))
    rows = []
    for match in matches:
        if (match.message_pk, match.sha) in known:
            continue
        known.add((match.message_pk, match.sha))
        rows.append(
            {
                "message_pk": match.message_pk,
                "repository_id": repository.id,
                "commit_sha": match.sha,
                "method": match.method,
                "push_id": push.id,
            }
        )
    if rows:  # one multi-row insert: the ORM would insert them one by one on SQLite
        session.execute(insert(PatchCommit), rows)
    session.flush()
    _mark_complete_patchsets(session, repository, push, {c.patchset_id for c in candidates})


def _mark_complete_patchsets(
    session: Session, repository: Repository, push: Push, patchset_ids: set[int]
) -> None:
    """Patchsets all of whose current patches now have a commit here become applied."""
    ids = sorted(patchset_ids)
    patchsets: list[Patchset] = []
    for chunk in _chunks(ids):
        query = select(Patchset).where(Patchset.id.in_(chunk), Patchset.status.in_(UNDECIDED))
        patchsets.extend(session.scalars(query))
    if not patchsets:
        return
    wanted: dict[int, set[int]] = {}
    for chunk in _chunks([p.id for p in patchsets]):
        current = select(PatchsetPatch.patchset_id, PatchsetPatch.message_pk).where(
            PatchsetPatch.patchset_id.in_(chunk), PatchsetPatch.replaced.is_(False)
        )
        for patchset_id, message_pk in session.execute(current):
            wanted.setdefault(patchset_id, set()).add(message_pk)
    all_pks = sorted({pk for pks in wanted.values() for pk in pks})
    committed: set[int] = set()
    for chunk in _chunks(all_pks):
        found = select(PatchCommit.message_pk).where(
            PatchCommit.repository_id == repository.id, PatchCommit.message_pk.in_(chunk)
        )
        committed.update(session.scalars(found))
    complete = [
        patchset
        for patchset in patchsets
        if wanted.get(patchset.id) and wanted[patchset.id] <= committed
    ]
    record_statuses(
        session, complete, PatchsetStatus.applied, actor=_pusher_label(session, push),
        via="push", note=f"pushed to {repository.path_name}",
    )  # fmt: skip


def _pusher_label(session: Session, push: Push) -> str:
    user = session.get(User, push.pusher_user_id) if push.pusher_user_id else None
    return f"~{user.username}" if user else "a push"


@dataclass(frozen=True)
class FoundCommit:
    repository: Repository
    sha: str
    method: MatchMethod


def commits_of_patches(
    session: Session, patchset: Patchset, actor: Actor
) -> dict[int, list[FoundCommit]]:
    """The commits found for each current patch of the patchset (message pk -> commits),
    in the repositories `actor` may read: what the patchset page lists, and how it tells
    a partial apply."""
    pks = [p.message_pk for p in patchset.patches if not p.replaced]
    out: dict[int, list[FoundCommit]] = {}
    if not pks:
        return out
    query = (
        select(PatchCommit, Repository)
        .join(Repository, Repository.id == PatchCommit.repository_id)
        .where(PatchCommit.message_pk.in_(pks))
        .order_by(PatchCommit.id)
    )
    readable: dict[int, bool] = {}
    for row, repository in session.execute(query):
        if repository.id not in readable:
            readable[repository.id] = may_on_repo(session, repository, actor, RepoRight.read)
        if readable[repository.id]:
            found = FoundCommit(repository, row.commit_sha, row.method)
            out.setdefault(row.message_pk, []).append(found)
    return out


def _chunks(values: Sequence) -> Iterator[list]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])
