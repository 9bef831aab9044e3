"""The one way Mailyard sends mail: record it in the outbox, then deliver it to the relay.

Recording (`queue_mail`) happens in the caller's transaction, so a message exists if and
only if the change that caused it was committed. After the commit the caller enqueues
delivery (`mail.tasks.enqueue_delivery`, or `after_commit_enqueue` to have it done on
commit); a periodic sweep enqueues whatever was due and lost its task. Rows whose bytes
are built at delivery are of a kind a domain registers (`mail.delivery.OutboxKind`: a list
post's copies, `lists.fanout`, are rows too). Delivery, and the durability contract it
keeps, is `mail.delivery`.
"""

from __future__ import annotations

import logging

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from core.db import after_commit, utcnow
from mail.models import OutboxMessage, OutboxStatus
from mail.tasks import enqueue_delivery

log = logging.getLogger(__name__)

PURPOSE_MAX = 32


def queue_mail(
    session: Session, *, envelope_from: str, recipients: list[str], raw: bytes, purpose: str
) -> OutboxMessage:
    """Add a message to send to the caller's session; the caller commits.

    After the commit, enqueue its delivery with `mail.tasks.enqueue_delivery([row.id])`,
    or call `after_commit_enqueue(session, row)` before committing (`send_on_commit`
    does both).
    """
    if not recipients:
        raise ValueError("an outbox message needs at least one recipient")
    if len(purpose) > PURPOSE_MAX:
        raise ValueError(f"purpose is longer than {PURPOSE_MAX} characters: {purpose!r}")
    now = utcnow()
    row = OutboxMessage(
        created_at=now,
        envelope_from=envelope_from,
        recipients=list(recipients),
        remaining=list(recipients),
        raw=bytes(raw),
        status=OutboxStatus.pending,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        purpose=purpose,
    )
    session.add(row)
    return row


def send_on_commit(
    session: Session, *, envelope_from: str, recipients: list[str], raw: bytes, purpose: str
) -> OutboxMessage:
    """`queue_mail`, with delivery enqueued once the caller's transaction commits: how a
    reply or notice caused by a change goes out with that change."""
    row = queue_mail(
        session, envelope_from=envelope_from, recipients=recipients, raw=raw, purpose=purpose
    )
    after_commit_enqueue(session, row)
    return row


def after_commit_enqueue(session: Session, row: OutboxMessage) -> None:
    """Enqueue delivery of `row` once the session's current transaction commits (not
    at all if it rolls back; `core.db.after_commit`)."""
    after_commit(session, _enqueue_rows, row)


def _enqueue_rows(rows: list[OutboxMessage]) -> None:
    try:
        # The identity, not `row.id`: an expired attribute would need SQL, not allowed here.
        identities = (inspect(row).identity for row in rows)
        ids = [identity[0] for identity in identities if identity is not None]
        if ids:
            enqueue_delivery(ids)
    except Exception:  # noqa: BLE001  the commit succeeded; the sweep will deliver
        log.exception("could not enqueue delivery of %d outbox messages; the sweep will", len(rows))
