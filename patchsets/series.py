"""Put patches and cover letters into patchsets.

A message joins the patchset of its nearest thread ancestor when it fits there (same
submitter, same version, a free position); otherwise, as Patchwork does for series sent
without threading or out of order, the most recent patchset of the same submitter,
version and size within a time window that still has the position free. Anything else
starts a new patchset. Which version a patchset re-rolls is `patchsets.versions`' job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.models import Message
from patchsets.classify import MailKind
from patchsets.models import (
    ClassifiedMessage,
    Patchset,
    PatchsetPatch,
)

# Patchwork groups unthreaded series over this window; git send-email sends in seconds,
# but a slow or interrupted sending can take hours.
SERIES_WINDOW = timedelta(hours=12)
# How far apart the Dates of one sending may stray from their numbering (clock skew,
# a re-sent patch).
SENDING_SLACK = timedelta(minutes=5)


def placed_already(session: Session, message_pks: list[int]) -> dict[tuple[int, int], Patchset]:
    """(message pk, list id) -> patchset, for those of the messages already filed: one
    query for a whole ingest batch instead of two per message."""
    found: dict[tuple[int, int], Patchset] = {}
    for pk, patchset in session.execute(
        select(PatchsetPatch.message_pk, Patchset)
        .join(Patchset, Patchset.id == PatchsetPatch.patchset_id)
        .where(PatchsetPatch.message_pk.in_(message_pks))
    ):
        found[(pk, patchset.list_id)] = patchset
    for patchset in session.scalars(
        select(Patchset).where(Patchset.cover_message_pk.in_(message_pks))
    ):
        assert patchset.cover_message_pk is not None  # it is one of message_pks
        found[(patchset.cover_message_pk, patchset.list_id)] = patchset
    return found


# (list id, Message-ID) -> the patchset that message is filed in, for a whole batch.
FiledIndex = dict[tuple[int, str], Patchset]


def filed_index(session: Session, items: list[tuple[Message, int]]) -> FiledIndex:
    """Where the thread ancestors of these messages are filed: two queries for a whole
    ingest batch, rather than two per patch (each a round trip on PostgreSQL).
    `file_into_patchset` keeps it up to date as it files the batch."""
    wanted: dict[int, set[str]] = {}
    for message, list_id in items:
        wanted.setdefault(list_id, set()).update(_ancestors(message))
    return {
        (list_id, msgid): patchset
        for list_id, msgids in wanted.items()
        for msgid, patchset in filed_by_msgid(session, list_id, msgids).items()
    }


def filed_by_msgid(session: Session, list_id: int, msgids) -> dict[str, Patchset]:
    """Message-ID -> the patchset of this list that has it as a patch, a cover letter or
    a pull request; the ids filed nowhere are left out."""
    found: dict[str, Patchset] = {}
    ordered = sorted(set(msgids))
    for chunk in (ordered[i : i + 500] for i in range(0, len(ordered), 500)):
        for msgid, patchset in session.execute(
            select(PatchsetPatch.message_id, Patchset)
            .join(Patchset, Patchset.id == PatchsetPatch.patchset_id)
            .where(PatchsetPatch.message_id.in_(chunk), Patchset.list_id == list_id)
        ):
            found.setdefault(msgid, patchset)
        for msgid, patchset in session.execute(
            select(Message.message_id, Patchset)
            .join(Patchset, Patchset.cover_message_pk == Message.id)
            .where(Message.message_id.in_(chunk), Patchset.list_id == list_id)
        ):
            found.setdefault(msgid, patchset)
    return found


def file_into_patchset(
    session: Session,
    list_id: int,
    message: Message,
    classified: ClassifiedMessage,
    index: FiledIndex | None = None,
) -> Patchset:
    """Put a message not yet in any patchset of this list into the one it fits, or a new
    one (see the module). `index` (from `filed_index`) saves the ancestor lookups."""
    if classified.kind is MailKind.pull:
        target = _new_patchset(list_id, message, classified, None)
        target.total = 0
        session.add(target)
        _add_member(target, message, classified)
    else:
        target = _choose_patchset(session, list_id, message, classified, index)
    if target is not None and index is not None:
        index[(list_id, message.message_id)] = target
    session.flush()
    return target


def _choose_patchset(
    session: Session,
    list_id: int,
    message: Message,
    classified: ClassifiedMessage,
    index: FiledIndex | None,
) -> Patchset:
    if index is None:
        anchor = _nearest_patchset(session, list_id, message)
    else:
        anchor = next(
            (index[(list_id, a)] for a in _ancestors(message) if (list_id, a) in index), None
        )
    target: Patchset | None
    if anchor is not None and _fits(anchor, message, classified):
        target = anchor
    elif (
        anchor is not None
        and classified.version_minor is not None
        and anchor.version == classified.version
        and classified.kind is MailKind.patch
    ):
        return _replace_patch(session, anchor, message, classified)
    else:
        target = _find_by_markers(session, list_id, message, classified)
    if target is None:
        target = _new_patchset(list_id, message, classified, anchor)
        session.add(target)
    _add_member(target, message, classified)
    return target


def patchset_replied_to(session: Session, list_id: int, message: Message) -> Patchset | None:
    """The patchset a reply answers: that of its nearest patch or cover letter above."""
    return _nearest_patchset(session, list_id, message)


def summarize_patchset(
    session: Session, patchset: Patchset, known: dict[int, ClassifiedMessage] | None = None
) -> list[ClassifiedMessage]:
    """Recompute what a patchset shows from its members (count, completeness, name,
    prefixes, b4 metadata); returns the members' classifications, cover letter first.
    `known` holds classifications at hand (a batch's), so only the others are read."""
    members = [p for p in patchset.patches if not p.replaced]
    patchset.patch_count = len(members)
    patchset.received_all = patchset.patch_count >= patchset.total
    infos = _infos(session, patchset, known or {})
    cover = infos.get(patchset.cover_message_pk) if patchset.cover_message_pk else None
    first = next((infos.get(p.message_pk) for p in members if p.position == 1), None)
    head = cover or first
    if head is not None:
        if not patchset.custom_name:
            patchset.name = head.name
        patchset.rfc, patchset.resend, patchset.tags = head.rfc, head.resend, list(head.tags)
    elif not patchset.custom_name:
        patchset.name = ""  # only a later patch so far: unnamed until patch 1 or the cover
    everything = [i for i in (cover, *(infos.get(p.message_pk) for p in members)) if i]
    patchset.change_id = next((i.change_id for i in everything if i.change_id), None)
    patchset.base_commit = next((i.base_commit for i in everything if i.base_commit), None)
    patchset.depends_on = list(dict.fromkeys(d for i in everything for d in i.depends_on))
    if cover is not None and cover.kind is MailKind.pull:
        patchset.pull_url, patchset.pull_ref = cover.pull_url, cover.pull_ref
    return everything


# --- finding where a message goes ------------------------------------------------------


def _nearest_patchset(session: Session, list_id: int, message: Message) -> Patchset | None:
    """The patchset of the closest thread ancestor that is in one: In-Reply-To first, then
    References from the nearest back."""
    ancestors = _ancestors(message)
    found = filed_by_msgid(session, list_id, ancestors) if ancestors else {}
    return next((found[a] for a in ancestors if a in found), None)


def _ancestors(message: Message) -> list[str]:
    ancestors = dict.fromkeys([*message.in_reply_to, *reversed(message.references)])
    ancestors.pop(message.message_id, None)
    return list(ancestors)


def _thread_root(message: Message) -> str:
    """The Message-ID a message's thread starts at, as far as its own headers tell."""
    if message.references:
        return message.references[0]
    if message.in_reply_to:
        return message.in_reply_to[0]
    return message.message_id


def patchset_containing(session: Session, list_id: int, msgid: str) -> Patchset | None:
    """The patchset of this list that has the message as a patch or cover letter."""
    return filed_by_msgid(session, list_id, [msgid]).get(msgid)


def _fits(patchset: Patchset, message: Message, classified: ClassifiedMessage) -> bool:
    if patchset.submitter_addr.lower() != (message.from_addr or "").lower():
        return False
    # An unstated version ('[PATCH 2/3]' under a 'v3' cover) fits any.
    if classified.version is not None and classified.version != patchset.version:
        return False
    if classified.kind is MailKind.cover:
        return patchset.cover_message_pk is None and _same_total(patchset, classified)
    if classified.index is None or classified.total is None:
        return False  # an unnumbered patch in a numbered thread starts its own set
    return _same_total(patchset, classified) and not _position_taken(patchset, classified.index)


def _same_total(patchset: Patchset, classified: ClassifiedMessage) -> bool:
    return classified.total is None or classified.total == patchset.total


def _position_taken(patchset: Patchset, position: int) -> bool:
    return any(p.position == position and not p.replaced for p in patchset.patches)


def _find_by_markers(
    session: Session, list_id: int, message: Message, classified: ClassifiedMessage
) -> Patchset | None:
    """A numbered series sent without usable threading, or arriving out of order: same
    submitter, version and total, close in time, position still free, and the same
    thread (or no threading at all)."""
    if classified.total is None or classified.total < 2 or classified.index is None:
        return None
    when = message.sort_date
    root = _thread_root(message)
    unthreaded = root == message.message_id
    candidates = session.scalars(
        select(Patchset)
        .where(
            Patchset.list_id == list_id,
            func.lower(Patchset.submitter_addr) == (message.from_addr or "").lower(),
            Patchset.version == (classified.version or 1),
            Patchset.total == classified.total,
            Patchset.date >= when - SERIES_WINDOW,
            Patchset.date <= when + SERIES_WINDOW,
        )
        .order_by(Patchset.date.desc(), Patchset.id.desc())
        .limit(20)
    )
    for candidate in candidates:
        if candidate.thread_root != root and not (unthreaded and not candidate.threaded):
            continue
        if classified.kind is MailKind.cover:
            if candidate.cover_message_pk is not None:
                continue
        elif _position_taken(candidate, classified.index):
            continue
        if _dates_in_order(session, candidate, classified.index, message.date):
            return candidate
    return None


def _dates_in_order(session: Session, patchset: Patchset, index: int, date) -> bool:
    """git send-email and b4 date a series' mails one after the other, cover letter first:
    a mail dated well before a lower-numbered member, or after a higher one, was sent
    apart from this series."""
    if date is None:
        return True
    rows: list[tuple[int, datetime | None]] = list(
        session.execute(
            select(PatchsetPatch.position, Message.date)
            .join(Message, Message.id == PatchsetPatch.message_pk)
            .where(PatchsetPatch.patchset_id == patchset.id)
        ).all()
    )
    if patchset.cover_message_pk is not None:
        cover = session.get(Message, patchset.cover_message_pk)
        assert cover is not None  # the key is set to NULL when the message is deleted
        rows.append((0, cover.date))
    for position, other in rows:
        if other is None:
            continue
        if position < index and other > date + SENDING_SLACK:
            return False
        if position > index and other < date - SENDING_SLACK:
            return False
    return True


def _new_patchset(
    list_id: int, message: Message, classified: ClassifiedMessage, anchor: Patchset | None
) -> Patchset:
    root = _thread_root(message)
    return Patchset(
        list_id=list_id,
        version=classified.version or 1,
        version_stated=classified.version is not None,
        total=classified.total or 1,
        submitter_name=message.from_name or "",
        submitter_addr=message.from_addr or "",
        first_message_id=message.message_id,
        thread_root=root,
        threaded=root != message.message_id,
        date=message.sort_date,
        last_activity=message.sort_date,
        thread_anchor_id=anchor.id if anchor is not None else None,
        patches=[],
    )


def _add_member(patchset: Patchset, message: Message, classified: ClassifiedMessage) -> None:
    if classified.kind in (MailKind.cover, MailKind.pull):
        patchset.cover_message_pk = message.id
    else:
        patchset.patches.append(
            PatchsetPatch(
                message_pk=message.id,
                message_id=message.message_id,
                position=classified.index if classified.index else 1,
            )
        )
    if classified.version is not None and not patchset.version_stated:
        patchset.version, patchset.version_stated = classified.version, True
    if classified.total and patchset.total != classified.total and not patchset.patches[:-1]:
        patchset.total = classified.total
    _touch(patchset, message)


def _replace_patch(
    session: Session, patchset: Patchset, message: Message, classified: ClassifiedMessage
) -> Patchset:
    """[PATCH v5.1 3/7]: the new patch takes position 3 of v5; the old one is kept,
    marked replaced."""
    position = classified.index or 1
    for member in patchset.patches:
        if member.position == position:
            member.replaced = True
    patchset.patches.append(
        PatchsetPatch(message_pk=message.id, message_id=message.message_id, position=position)
    )
    _touch(patchset, message)
    session.flush()
    return patchset


def _touch(patchset: Patchset, message: Message) -> None:
    when = message.sort_date
    if patchset.date is None or when < patchset.date:
        patchset.date = when
    if patchset.last_activity is None or when > patchset.last_activity:
        patchset.last_activity = when


def _infos(
    session: Session, patchset: Patchset, known: dict[int, ClassifiedMessage]
) -> dict[int, ClassifiedMessage]:
    pks = [p.message_pk for p in patchset.patches]
    if patchset.cover_message_pk:
        pks.append(patchset.cover_message_pk)
    infos = {pk: known[pk] for pk in pks if pk in known}
    missing = [pk for pk in pks if pk not in infos]
    if missing:
        rows = session.scalars(
            select(ClassifiedMessage).where(ClassifiedMessage.message_pk.in_(missing))
        )
        infos.update((row.message_pk, row) for row in rows)
    return infos
