"""Background work of the repositories: the push hooks, and the sweep behind them."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from core.db import session_scope, utcnow
from repos.pushes import note_hook_failure, pending_pushes, run_hooks

log = logging.getLogger(__name__)

# A push still pending this long after it was recorded lost its task: run it again.
SWEEP_AFTER = timedelta(seconds=30)


@shared_task(name="repos.push_hooks")
def push_hooks_task(push_id: int) -> bool:
    try:
        with session_scope() as session:
            return run_hooks(session, push_id)
    except Exception as error:  # noqa: BLE001  recorded on the push, retried by the sweep
        log.exception("push %d: a hook failed", push_id)
        with session_scope() as session:
            note_hook_failure(session, push_id, f"{type(error).__name__}: {error}")
        return False


@shared_task(name="repos.sweep_pushes")
def sweep_pushes(min_age_seconds: float | None = None) -> int:
    age = SWEEP_AFTER if min_age_seconds is None else timedelta(seconds=min_age_seconds)
    with session_scope() as session:
        ids = pending_pushes(session, utcnow() - age)
    for push_id in ids:
        enqueue_hooks(push_id)
    return len(ids)


def enqueue_hooks(push_id: int) -> None:
    """Ask a worker to run the push's hooks; never fails the caller (the push is
    committed; the sweep finds it if the broker is away)."""
    try:
        push_hooks_task.delay(push_id)
    except Exception:  # noqa: BLE001  the broker is optional for durability
        log.exception("could not enqueue the hooks of push %d; the sweep will", push_id)
