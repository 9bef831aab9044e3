"""The outbox: every message Mailyard sends, recorded before it is sent.

A row is written in the same transaction as whatever caused the mail (a status change, a
review reply...), so mail goes out if and only if that change was committed. Celery tasks
deliver rows (`mta/outbox.py`); the table is also the log people read to see what was
sent, to whom, why (`purpose`) and what the relay said (`last_error`).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from archive.models import UTC_DT, utcnow
from mailyard.db import Base


class OutboxStatus(enum.Enum):
    pending = "pending"  # waiting for its first attempt, or for a retry after a 4xx
    sent = "sent"  # the relay accepted it (for at least one recipient)
    failed = "failed"  # refused for good (5xx), or retried until the give-up time


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    envelope_from: Mapped[str] = mapped_column(String(998))
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    raw: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16), default=OutboxStatus.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    # A worker sending the row holds it until then; a crashed worker's claim runs out.
    claimed_until: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # Why it was sent, for people reading the table: 'patchset-status-reply', ...
    purpose: Mapped[str] = mapped_column(String(32), default="")

    __table_args__ = (Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),)


class PgpKey(Base):
    """An OpenPGP public key registered for an address (see `mta.keys`)."""

    __tablename__ = "pgp_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(254), index=True)  # lower-cased
    fingerprint: Mapped[str] = mapped_column(String(64))
    armored: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (UniqueConstraint("address", "fingerprint", name="uq_pgp_keys_address"),)
