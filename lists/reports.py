"""What a list owner reads to see how delivery goes: the latest bounces, and the list's
copies that have not reached everyone (refused for good, or deferred and waiting to retry).

Read-only queries for the members page; bounce handling and the outbox write the rows.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from lists.models import BounceEvent
from mail.models import OutboxMessage, OutboxStatus

REPORT_ROWS = 50


def recent_bounces(session: Session, list_id: int, limit: int = REPORT_ROWS) -> list[BounceEvent]:
    """The list's bounces, newest first (ix_bounce_events_list_received serves it)."""
    return list(
        session.scalars(
            select(BounceEvent)
            .where(BounceEvent.list_id == list_id)
            .order_by(BounceEvent.received_at.desc(), BounceEvent.id.desc())
            .limit(limit)
        )
    )


def undelivered_copies(
    session: Session, list_id: int, limit: int = REPORT_ROWS
) -> list[OutboxMessage]:
    """The list's outbox rows that failed, or are pending after an attempt (deferred by a
    4xx): those whose recipients may not have the post yet. Newest first."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.list_id == list_id,
                or_(
                    OutboxMessage.status == OutboxStatus.failed,
                    and_(
                        OutboxMessage.status == OutboxStatus.pending,
                        OutboxMessage.attempts > 0,
                    ),
                ),
            )
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
    )
