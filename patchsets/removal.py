"""What an operator's removal of a message (`mailyard message rm`) changes in patchsets:
the patch leaves its patchset on that list, whose counts follow; a patchset left with
nothing of its mail is deleted. Connected to `archive.hooks.MESSAGE_REMOVED`."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from patchsets.models import Patchset, PatchsetPatch


def forget_removed_message(session: Session, message_pk: int, list_id: int) -> None:
    """Take message `message_pk` out of the patchsets of list `list_id`."""
    in_list = select(Patchset.id).where(Patchset.list_id == list_id)
    touched = set(
        session.scalars(
            select(PatchsetPatch.patchset_id).where(
                PatchsetPatch.message_pk == message_pk, PatchsetPatch.patchset_id.in_(in_list)
            )
        )
    )
    session.execute(
        delete(PatchsetPatch).where(
            PatchsetPatch.message_pk == message_pk, PatchsetPatch.patchset_id.in_(touched)
        )
    )
    covered = session.scalars(
        select(Patchset).where(Patchset.list_id == list_id, Patchset.cover_message_pk == message_pk)
    )
    for cover in covered:
        cover.cover_message_pk = None
        touched.add(cover.id)
    session.flush()
    for patchset_id in sorted(touched):
        patchset = session.get(Patchset, patchset_id)
        if patchset is None:
            continue
        session.refresh(patchset, ["patches"])
        patchset.patch_count = len(patchset.patches)
        patchset.received_all = patchset.patch_count >= patchset.total
        if not patchset.patches and patchset.cover_message_pk is None:
            session.delete(patchset)
    session.flush()
