"""Background work of the archive: ingesting stored messages, and the sweep behind it."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from archive.ingest import ingest_messages, pending_message_pks
from core.db import session_scope, utcnow

log = logging.getLogger(__name__)

# A message still `received` this long after intake lost its task (broker down, worker
# killed): the sweep enqueues it again. Ingest is idempotent, so a late task is harmless.
SWEEP_AFTER = timedelta(seconds=20)


# Messages one ingest task takes on besides its own: under load, tasks queue up behind a
# running one, and the first to run ingests what the others were for in one transaction
# (one write lock, one thread refresh); the rest then find nothing left to do. Not more:
# on SQLite intake waits for the write lock a batch holds (500 gave 84 msgs/s accepted
# over SMTP, 100 gave 96, once patch tracking joined ingest).
INGEST_BATCH = 100


@shared_task(name="archive.ingest")
def ingest_task(message_pks: list[int]) -> int:
    with session_scope() as session:
        others = pending_message_pks(session, limit=INGEST_BATCH)
        return ingest_messages(session, [*message_pks, *others])


@shared_task(name="archive.sweep_pending")
def sweep_pending(min_age_seconds: float | None = None) -> int:
    """Enqueue ingest of stored messages whose task seems lost. At start-up (age 0) that
    is every pending message: whatever was queued before a crash may be gone."""
    age = SWEEP_AFTER if min_age_seconds is None else timedelta(seconds=min_age_seconds)
    with session_scope() as session:
        pks = pending_message_pks(session, older_than=utcnow() - age)
    for i in range(0, len(pks), 100):
        enqueue_ingest(pks[i : i + 100])
    return len(pks)


def enqueue_ingest(message_pks: list[int]) -> None:
    """Ask a worker to ingest these messages; never fails the caller.

    The messages are already committed, so a broker outage only delays them until the
    sweep finds them.
    """
    if not message_pks:
        return
    try:
        ingest_task.delay(list(message_pks))
    except Exception:  # noqa: BLE001  the broker is optional for durability
        log.exception("could not enqueue ingest of %d messages; the sweep will", len(message_pks))
