"""The archive's ingest hands every newly archived list message here: classify it, keep
the trailers a reply gives, and file patches and cover letters into patchsets.

Runs in the ingest transaction, so a message is archived and tracked together or not at
all; idempotent, so a re-run or `reindex` gives the same patchsets.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archive.models import Message
from core.db import after_commit
from patchsets.apply import patchsets_to_check
from patchsets.classify import Classification, MailKind, classify_message
from patchsets.models import (
    ClassifiedMessage,
    GivenTrailer,
    Patchset,
    PatchsetEvent,
    PatchsetPatch,
    PatchsetStatus,
)
from patchsets.patch_id import git_patch_id
from patchsets.series import (
    file_into_patchset,
    filed_index,
    placed_already,
    summarize_patchset,
)
from patchsets.status_mail import handle_status_request
from patchsets.tasks import enqueue_apply_checks
from patchsets.trailers import followup_trailers
from patchsets.versions import link_previous_version, link_versions_from_reply

_FILED = (MailKind.patch, MailKind.cover, MailKind.pull)


def track_messages(session: Session, items: Sequence[tuple[Message, int]]) -> None:
    """Classify and file each (message, list id) pair, in order."""
    if not items:
        return
    known = _classified(session, [m.id for m, _ in items])
    # Only a message classified before (a cross-post reaching another list) can be filed
    # already; a new one cannot, and needs no lookup.
    seen_before = set(known)
    for message, _ in items:
        if message.id not in known:
            known[message.id] = classify_and_store(session, message)
    touched: dict[int, Patchset] = {}
    # Each placement flushes what it changed; nothing else needs to reach the database
    # before the next query, and autoflushing every query costs half the ingest time.
    with session.no_autoflush:
        session.flush()
        submissions = [
            (message, list_id) for message, list_id in items if known[message.id].kind in _FILED
        ]
        again = [m.id for m, _ in submissions if m.id in seen_before]
        placed = placed_already(session, again) if again else {}
        index = filed_index(session, submissions) if submissions else {}
        for message, list_id in submissions:
            patchset = placed.get((message.id, list_id))
            if patchset is None:
                patchset = file_into_patchset(session, list_id, message, known[message.id], index)
            touched[patchset.id] = patchset
        for message, list_id in items:
            if known[message.id].kind is MailKind.reply:
                handle_status_request(session, list_id, message)
        # Before refreshing: superseding must see the status people gave (an approved
        # v1 stays approved when its v2 comes), not the default a rebuild starts from.
        _replay_events(session, [p for p in touched.values() if p.status_at is None])
        # Refreshing reads other patchsets' names from the identity map, not the
        # database, so one flush at the end does.
        for patchset in sorted(touched.values(), key=lambda p: (p.date is None, p.date, p.id)):
            link_previous_version(session, patchset, summarize_patchset(session, patchset, known))
        for message, list_id in items:
            if known[message.id].kind is MailKind.reply:
                link_versions_from_reply(session, list_id, message, known[message.id])
        session.flush()
        for patchset_id in patchsets_to_check(session, list(touched.values())):
            after_commit(session, enqueue_apply_checks, patchset_id)


def classify_and_store(session: Session, message: Message) -> ClassifiedMessage:
    has_parent = bool(message.in_reply_to or message.references)
    result = classify_message(message.subject or "", message.body or "", has_parent)
    row = _row_from(message, result)
    session.add(row)
    if result.kind is MailKind.reply:
        for position, trailer in enumerate(followup_trailers(message.body or "")):
            session.add(
                GivenTrailer(
                    message_pk=message.id,
                    position=position,
                    name=trailer.name,
                    value=trailer.value,
                )
            )
    return row


def reset_patchsets(session: Session) -> None:
    """Forget everything derived (status events and mailed requests stay: reindex
    replays the one and must not repeat the other)."""
    session.execute(delete(PatchsetPatch))
    session.execute(delete(Patchset))
    session.execute(delete(GivenTrailer))
    session.execute(delete(ClassifiedMessage))


def _classified(session: Session, pks: list[int]) -> dict[int, ClassifiedMessage]:
    rows = session.scalars(select(ClassifiedMessage).where(ClassifiedMessage.message_pk.in_(pks)))
    return {row.message_pk: row for row in rows}


def _row_from(message: Message, result: Classification) -> ClassifiedMessage:
    info = result.subject
    row = ClassifiedMessage(
        message_pk=message.id,
        kind=result.kind,
        name=info.name[:2000],
        tags=list(info.tags),
        version=info.version,
        version_minor=info.version_minor,
        index=info.index,
        total=info.total,
        rfc=info.rfc,
        resend=info.resend,
        base_commit=result.base_commit,
        change_id=result.change_id[:255] if result.change_id else None,
        depends_on=result.depends_on,
        supersedes=result.supersedes,
    )
    if result.pull is not None:
        row.pull_url, row.pull_ref = result.pull.url, result.pull.ref
    if result.diff:
        files = result.files
        row.files = [f.path for f in files][:200]
        row.patch_id = git_patch_id(result.diff)
        row.files_changed = len(files)
        row.lines_added = sum(f.added for f in files)
        row.lines_removed = sum(f.removed for f in files)
    return row


def _replay_events(session: Session, patchsets: list[Patchset]) -> None:
    """After reindex, rebuilt patchsets take back the last status people gave them."""
    if not patchsets:
        return
    by_first = {p.first_message_id: p for p in patchsets}
    last: dict[str, PatchsetEvent] = {}
    for event in session.scalars(
        select(PatchsetEvent)
        .where(PatchsetEvent.patchset_first_message_id.in_(list(by_first)))
        .order_by(PatchsetEvent.id)
    ):
        last[event.patchset_first_message_id] = event
    for first, event in last.items():
        patchset = by_first[first]
        patchset.status = PatchsetStatus(event.new_status)
        patchset.status_by, patchset.status_at = event.actor, event.at
