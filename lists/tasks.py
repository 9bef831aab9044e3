"""Background work of the lists: the daily digests, and the expiry of posts held for
moderation (Celery shared tasks, named as they were when they lived in `mta`)."""

from __future__ import annotations

from celery import shared_task

from core.db import in_batches, session_scope
from core.settings import get_settings
from lists.digests import send_digests
from lists.moderation import expire_held


@shared_task(name="mta.send_digests")
def send_digests_task() -> int:
    """Once a day: each list's digest to its digest subscribers."""
    with session_scope() as session:
        return send_digests(session, get_settings())


@shared_task(name="mta.expire_held")
def expire_held_task() -> int:
    """Every hour: posts nobody moderated within their list's `moderation_days` expire."""
    return in_batches(expire_held)
