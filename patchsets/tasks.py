"""Background work of the patchsets: whether a newly arrived series applies to its
repository (a dry run of `patchsets.apply`, shown on the patchset's page)."""

from __future__ import annotations

import logging

from celery import shared_task

from archive.models import MailingList
from core.db import session_scope
from core.settings import get_settings
from patchsets.apply import check_patchset
from patchsets.models import Patchset

log = logging.getLogger(__name__)


@shared_task(name="patchsets.check_apply")
def check_apply_task(patchset_ids: list[int]) -> int:
    """Dry-run each patchset onto its repository; how many were checked."""
    checked = 0
    for patchset_id in patchset_ids:
        with session_scope() as session:
            patchset = session.get(Patchset, patchset_id)
            mlist = session.get(MailingList, patchset.list_id) if patchset else None
            if patchset is None or mlist is None:
                continue
            if check_patchset(session, get_settings(), mlist, patchset) is not None:
                checked += 1
    return checked


def enqueue_apply_checks(patchset_ids: list) -> None:
    """After a commit (`core.db.after_commit`): ask a worker for the dry runs. Never
    fails the caller; a patchset left unchecked is checked when asked for."""
    try:
        check_apply_task.delay(sorted(set(patchset_ids)))
    except Exception:  # noqa: BLE001  the broker is optional for durability
        log.exception("could not enqueue the apply checks of %s", patchset_ids)
