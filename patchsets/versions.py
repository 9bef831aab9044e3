"""Link each patchset to the version it re-rolls, and mark that one superseded.

Done once a batch is filed, when the cover letter (and so the name) may have arrived:
by an explicit `Supersedes:`, b4's change-id, the thread (v2 sent in reply to v1), or
the same submitter re-sending a patch of the same subject or diff.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from archive.models import Message
from patchsets.models import ClassifiedMessage, Patchset, PatchsetPatch, PatchsetStatus
from patchsets.series import patchset_containing, patchset_replied_to
from patchsets.status import record_status

# How far back a re-roll looks for the version it replaces, among its submitter's sets.
PREVIOUS_LOOKBACK = 200
_OPEN_STATUSES = (PatchsetStatus.proposed, PatchsetStatus.needs_revision)


def link_previous_version(
    session: Session, patchset: Patchset, infos: list[ClassifiedMessage]
) -> None:
    """Find the version `patchset` re-rolls, if not known yet, and supersede it."""
    if patchset.previous_id is None:
        previous = find_previous_version(session, patchset, infos)
        if previous is not None:
            supersede(session, previous, patchset)


def link_versions_from_reply(
    session: Session, list_id: int, message: Message, info: ClassifiedMessage
) -> None:
    """A reply's series links, as patchew reads a reviewer's: `Supersedes: <id>` makes the
    patchset the reply answers the re-roll of the one holding <id>; `Based-on:` and
    `Depends-on:` add to what the answered patchset depends on."""
    if not (info.supersedes or info.depends_on):
        return
    patchset = patchset_replied_to(session, list_id, message)
    if patchset is None:
        return
    if info.depends_on:
        patchset.depends_on = list(dict.fromkeys([*patchset.depends_on, *info.depends_on]))
    for target in info.supersedes:
        old = patchset_containing(session, list_id, target)
        if old is not None and old.id != patchset.id and patchset.previous_id != old.id:
            supersede(session, old, patchset)
            return


def find_previous_version(
    session: Session, patchset: Patchset, infos: list[ClassifiedMessage]
) -> Patchset | None:
    """The patchset this one re-rolls, or None for a first version."""
    for target in (s for i in infos for s in i.supersedes):
        found = patchset_containing(session, patchset.list_id, target)
        if found is not None and found.id != patchset.id:
            return found
    earlier = select(Patchset).where(
        Patchset.list_id == patchset.list_id,
        Patchset.id != patchset.id,
        Patchset.date <= patchset.date,
    )
    if patchset.change_id:
        found = session.scalars(
            earlier.where(Patchset.change_id == patchset.change_id)
            .where(Patchset.version <= patchset.version)
            .order_by(Patchset.date.desc(), Patchset.id.desc())
        ).first()
        if found is not None:
            return found
    if patchset.thread_anchor_id is not None:
        anchor = session.get(Patchset, patchset.thread_anchor_id)
        if (
            anchor is not None
            and anchor.pull_url is None
            and anchor.submitter_addr.lower() == patchset.submitter_addr.lower()
            and anchor.version <= patchset.version
        ):
            return anchor
    if patchset.version <= 1 and not patchset.resend:
        return None
    version_ok = (
        Patchset.version <= patchset.version
        if patchset.resend
        else Patchset.version < patchset.version
    )
    # Columns, not objects: loading up to PREVIOUS_LOOKBACK full rows per re-roll was
    # a tenth of bulk import time.
    rows = session.execute(
        select(Patchset.id, Patchset.version, Patchset.name)
        .where(
            Patchset.list_id == patchset.list_id,
            Patchset.id != patchset.id,
            Patchset.date <= patchset.date,
            func.lower(Patchset.submitter_addr) == patchset.submitter_addr.lower(),
            Patchset.pull_url.is_(None),
            version_ok,
        )
        .order_by(Patchset.date.desc(), Patchset.id.desc())
        .limit(PREVIOUS_LOOKBACK)
    ).all()
    best = _best_previous(session, patchset, [c for row in rows if (c := _as_now(session, row))])
    return session.get(Patchset, best) if best is not None else None


def _as_now(session: Session, row) -> tuple[int, int, str] | None:
    """A candidate (id, version, name) as this transaction last left it, or None for a
    pull request: patchsets filed in the same ingest batch are summarised in memory and
    flushed together at its end, so the row read may be behind."""
    patchset_id, version, name = row
    loaded = session.identity_map.get(identity_key(Patchset, patchset_id))
    if loaded is None:
        return patchset_id, version, name
    return None if loaded.pull_url else (patchset_id, version, loaded.name)


def _best_previous(
    session: Session, patchset: Patchset, candidates: list[tuple[int, int, str]]
) -> int | None:
    """Of the submitter's earlier patchsets (id, version, name), the id of the one this
    re-rolls: it must share a patch (by subject or by git patch-id), or carry the same name and
    touch some of the same files. A shared patch beats a shared cover name ('collection:
    assorted fixes' is no evidence); then the nearest version, the most shared patches,
    the same name."""
    if not candidates:
        return None
    mine = _content(session, [patchset.id])[patchset.id]
    theirs = _content(session, [pid for pid, _, _ in candidates])
    best, best_key = None, None
    for pid, version, name in candidates:
        names, prints, files = theirs.get(pid, (set(), set(), set()))
        same_name = bool(name) and _same_name(name, patchset.name)
        shared_names, shared_prints = len(names & mine[0]), len(prints & mine[1])
        shared_files = len(files & mine[2])
        if not (shared_names or shared_prints or (same_name and (shared_files or not files))):
            continue
        shares_patch = bool(shared_names or shared_prints)
        key = (shares_patch, version, shared_names, shared_prints, same_name, shared_files)
        if best_key is None or key > best_key:
            best, best_key = pid, key
    return best


def _content(session: Session, patchset_ids: list[int]) -> dict[int, tuple[set, set, set]]:
    """Per patchset: its patches' name keys, patch ids and touched paths."""
    out: dict[int, tuple[set, set, set]] = {pid: (set(), set(), set()) for pid in patchset_ids}
    rows = session.execute(
        select(
            PatchsetPatch.patchset_id,
            ClassifiedMessage.name,
            ClassifiedMessage.patch_id,
            ClassifiedMessage.files,
        )
        .join(ClassifiedMessage, ClassifiedMessage.message_pk == PatchsetPatch.message_pk)
        .where(PatchsetPatch.patchset_id.in_(patchset_ids))
    )
    for patchset_id, name, patch_id, files in rows:
        names, prints, paths = out[patchset_id]
        if name:
            names.add(_name_key(name))
        if patch_id:
            prints.add(patch_id)
        paths.update(files or ())
    return out


def supersede(session: Session, old: Patchset, new: Patchset) -> None:
    """Record that `new` re-rolls `old`; an open `old` becomes superseded."""
    new.previous_id = old.id
    if old.superseded_by_id is not None and old.superseded_by_id != new.id:
        current = session.get(Patchset, old.superseded_by_id)
        if current is not None and current.date and new.date and current.date > new.date:
            return  # a later version already replaced it
    old.superseded_by_id = new.id
    if old.status in _OPEN_STATUSES:
        # Dated when the new version was sent, not when an import happened to file it.
        record_status(
            session,
            old,
            PatchsetStatus.superseded,
            actor="mailyard",
            via="auto",
            note=f"superseded by v{new.version}",
            at=new.date,
        )


def _same_name(a: str, b: str) -> bool:
    return _name_key(a) == _name_key(b)


def _name_key(name: str) -> str:
    return " ".join(name.lower().split()).rstrip(".!:; ")
