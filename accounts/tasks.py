"""Background work of accounts: forgetting old rate-limit hits, so the table holds only
the last hour's attempts whatever keys stop coming back, and sessions ended a day ago."""

from __future__ import annotations

from celery import shared_task

from accounts.ratelimit import prune_hits
from accounts.sessions import prune_ended_sessions
from core.db import session_scope


@shared_task(name="accounts.prune_rate_limits")
def prune_rate_limits() -> int:
    with session_scope() as session:
        return prune_hits(session) + prune_ended_sessions(session)
