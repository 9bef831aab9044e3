"""The mail floor's tables: the outbox, operators' PGP keys, pending confirmations, and
the signed commands already used.

Outbox: every message Mailyard sends, recorded before it is sent. A row is written in the
same transaction as whatever caused the mail (a status change, a review reply...), so
mail goes out if and only if that change was committed. Celery tasks deliver rows
(`mail.outbox`); the table is also the log people read to see what was sent, to whom, why
(`purpose`) and what the relay said (`last_error`).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from core.db import UTC_DT, Base, utcnow


class OutboxStatus(enum.Enum):
    pending = "pending"  # waiting for its first attempt, or for a retry after a 4xx
    sent = "sent"  # the relay accepted it (for at least one recipient)
    failed = "failed"  # refused for good (5xx), or retried until the give-up time


MAIL_KIND = "mail"  # an outbox row whose bytes are stored in it


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    envelope_from: Mapped[str] = mapped_column(String(998))
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    # Those still to deliver: a recipient leaves once the relay has the message.
    remaining: Mapped[list] = mapped_column(JSON, default=list)
    # Which deliverer sends it (`mail.outbox.register_kind`): 'mail' sends `raw` as it is;
    # a domain's kind builds its envelopes (a list post's copies are 'list-post').
    kind: Mapped[str] = mapped_column(String(16), default=MAIL_KIND, server_default=MAIL_KIND)
    # The bytes to send; None when the row's kind builds them at delivery.
    raw: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    # What a kind's row is about: for a list post, the archived message and its list.
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=True, index=True
    )
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailing_lists.id", ondelete="CASCADE"), nullable=True
    )
    delivered: Mapped[int] = mapped_column(Integer, default=0)  # recipients handed over
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

    __table_args__ = (
        Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),
        # The owner's "undelivered copies" report.
        Index("ix_outbox_list_status", "list_id", "status", "created_at"),
    )


class PgpKey(Base):
    """An OpenPGP public key registered for an address (see `mail.keys`)."""

    __tablename__ = "pgp_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(254), index=True)  # lower-cased
    fingerprint: Mapped[str] = mapped_column(String(64))
    armored: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (UniqueConstraint("address", "fingerprint", name="uq_pgp_keys_address"),)


class RequestKind(enum.Enum):
    subscribe = "subscribe"
    unsubscribe = "unsubscribe"


class PendingRequest(Base):
    """A subscribe or unsubscribe request waiting for its confirmation reply, for a list
    or for any other thing people follow by mail (a tracker, a ticket)."""

    __tablename__ = "pending_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What is to be followed: 'list:ID', 'tracker:ID', 'ticket:ID'.
    scope: Mapped[str] = mapped_column(String(64))
    kind: Mapped[RequestKind] = mapped_column(Enum(RequestKind, native_enum=False, length=16))
    address: Mapped[str] = mapped_column(String(254))
    address_key: Mapped[str] = mapped_column(String(254))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTC_DT)

    __table_args__ = (
        UniqueConstraint("scope", "address_key", "kind", name="uq_pending_requests_who"),
    )


class UsedSignedText(Base):
    """The text of a PGP-signed command that has acted, by its SHA-256: a signed command
    acts once, so a copy taken from the archive cannot be replayed (`mail.signed_commands`).
    Kept for good: a signature does not expire with time, so neither does its use."""

    __tablename__ = "used_signed_texts"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex SHA-256
    purpose: Mapped[str] = mapped_column(String(32))  # 'patchset-status', 'ticket-command'
    target: Mapped[str] = mapped_column(String(998))  # what it acted on, for people reading
    used_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
