"""Background work of outbound mail: delivering outbox rows, and the sweep behind it;
and the expiry of posts held for moderation."""

from __future__ import annotations

import logging

from mailyard.celery_app import app
from mailyard.db import session_scope
from mailyard.settings import get_settings
from mta.digests import send_digests
from mta.moderation import expire_held
from mta.outbox import deliver, due_message_ids, prune_sent

log = logging.getLogger(__name__)

# Rows one sweep enqueues at most; the next sweep (30 s later) takes the rest.
SWEEP_BATCH = 500


@app.task(name="mta.deliver")
def deliver_task(row_id: int) -> str:
    with session_scope() as session:
        return deliver(session, row_id, get_settings())


@app.task(name="mta.sweep_outbox")
def sweep_outbox() -> int:
    """Enqueue delivery of every due row: first attempts whose task was lost, and retries
    whose backoff has passed. A row enqueued twice is sent once (`deliver` claims it)."""
    with session_scope() as session:
        ids = due_message_ids(session, limit=SWEEP_BATCH)
    enqueue_delivery(ids)
    return len(ids)


@app.task(name="mta.send_digests")
def send_digests_task() -> int:
    """Once a day: each list's digest to its digest subscribers."""
    with session_scope() as session:
        return send_digests(session, get_settings())


@app.task(name="mta.prune_outbox")
def prune_outbox() -> int:
    """Once a day: forget rows sent more than a month ago, a batch per transaction."""
    pruned = 0
    while True:
        with session_scope() as session:
            done = prune_sent(session)
        pruned += done
        if done == 0:
            return pruned


@app.task(name="mta.expire_held")
def expire_held_task() -> int:
    """Every hour: posts nobody moderated within their list's `moderation_days` expire."""
    expired = 0
    while True:
        with session_scope() as session:
            done = expire_held(session)
        expired += done
        if done == 0:
            return expired


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
