"""Background work of outbound mail: delivering outbox rows, the sweep behind it, and
forgetting rows sent long ago.

Tasks are Celery shared tasks: they run on the application the shell makes
(`mailyard.celery_app`), which is why no module below the shell imports it. Their names
are part of the data (queued tasks carry them) and do not change when a module moves.
"""

from __future__ import annotations

import logging

from celery import shared_task

from core.db import in_batches, session_scope
from core.settings import get_settings
from mail.delivery import DeliveryOutcome, deliver, due_message_ids, prune_sent

log = logging.getLogger(__name__)

# Rows one sweep enqueues at most; the next sweep (30 s later) takes the rest.
SWEEP_BATCH = 500


@shared_task(name="mta.deliver")
def deliver_task(row_id: int) -> DeliveryOutcome:
    with session_scope() as session:
        return deliver(session, row_id, get_settings())


@shared_task(name="mta.sweep_outbox")
def sweep_outbox() -> int:
    """Enqueue delivery of every due row: first attempts whose task was lost, and retries
    whose backoff has passed. A row enqueued twice is sent once (`deliver` claims it)."""
    with session_scope() as session:
        ids = due_message_ids(session, limit=SWEEP_BATCH)
    enqueue_delivery(ids)
    return len(ids)


@shared_task(name="mta.prune_outbox")
def prune_outbox() -> int:
    """Once a day: forget rows sent more than a month ago, a batch per transaction."""
    return in_batches(prune_sent)


def enqueue_delivery(row_ids: list[int]) -> None:
    """Ask workers to deliver these outbox rows; never fails the caller.

    The rows are already committed, so a broker outage only delays them until the sweep
    finds them; after the first failure the rest are left to it too.
    """
    for done, row_id in enumerate(row_ids):
        try:
            deliver_task.delay(row_id)
        except Exception:  # noqa: BLE001  the broker is optional for durability
            log.exception(
                "could not enqueue delivery of %d outbox messages; the sweep will",
                len(row_ids) - done,
            )
            return
