"""Background work of accounts: forgetting old rate-limit hits, so the table holds only
the last hour's attempts whatever keys stop coming back."""

from __future__ import annotations

from mailyard.accounts.ratelimit import prune_hits
from mailyard.celery_app import app
from mailyard.db import session_scope


@app.task(name="accounts.prune_rate_limits")
def prune_rate_limits() -> int:
    with session_scope() as session:
        return prune_hits(session)
