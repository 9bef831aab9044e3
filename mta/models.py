"""The outbox: every message Mailyard sends, recorded before it is sent.

A row is written in the same transaction as whatever caused the mail (a status change, a
review reply...), so mail goes out if and only if that change was committed. Celery tasks
deliver rows (`mta/outbox.py`); the table is also the log people read to see what was
sent, to whom, why (`purpose`) and what the relay said (`last_error`).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
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
    # Those still to deliver: a recipient leaves once the relay has the message.
    remaining: Mapped[list] = mapped_column(JSON, default=list)
    # The bytes to send; None for a list post, built at delivery from the archived message.
    raw: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    # A copy of a list post (`mta.fanout`): the archived message and the list it went to.
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
    """An OpenPGP public key registered for an address (see `mta.keys`)."""

    __tablename__ = "pgp_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(254), index=True)  # lower-cased
    fingerprint: Mapped[str] = mapped_column(String(64))
    armored: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (UniqueConstraint("address", "fingerprint", name="uq_pgp_keys_address"),)


# -- list membership ---------------------------------------------------------------------


class DeliveryMode(enum.Enum):
    each = "each"  # every post, as it arrives
    digest = "digest"  # one plain-text digest a day (RFC 1153)


class SubscriptionStatus(enum.Enum):
    active = "active"
    disabled = "disabled"  # by bounces: kept, but sent nothing until re-enabled


class Subscription(Base):
    """One address subscribed to one list (`mta.subscriptions`)."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))  # as normalized by email-validator
    address_key: Mapped[str] = mapped_column(String(254))  # lower-cased, for matching
    status: Mapped[SubscriptionStatus] = mapped_column(
        Enum(SubscriptionStatus, native_enum=False, length=16), default=SubscriptionStatus.active
    )
    delivery: Mapped[DeliveryMode] = mapped_column(
        Enum(DeliveryMode, native_enum=False, length=16), default=DeliveryMode.each
    )
    copy_self: Mapped[bool] = mapped_column(Boolean, default=True)  # receive own posts
    subscribed_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    # Mailman's bounce score: one point per day with a permanent failure, forgotten
    # when the last one is older than `BOUNCE_STALE_AFTER`.
    bounce_score: Mapped[float] = mapped_column(Float, default=0.0)
    last_bounce_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)

    __table_args__ = (
        UniqueConstraint("list_id", "address_key", name="uq_subscriptions_list_address"),
        Index("ix_subscriptions_list_status", "list_id", "status", "id"),
    )


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


class ListDelivery(Base):
    """How a list sends its mail; one row per list, made with the defaults on first use."""

    __tablename__ = "list_delivery"

    list_id: Mapped[int] = mapped_column(
        ForeignKey("mailing_lists.id", ondelete="CASCADE"), primary_key=True
    )
    subject_prefix: Mapped[str] = mapped_column(String(64), default="")  # "" = no tag
    footer: Mapped[str] = mapped_column(Text, default="")  # "" = no footer
    dmarc_mode: Mapped[str] = mapped_column(String(16), default="auto")  # mta.dmarc.DmarcMode
    # VERP and a one-click unsubscribe URL per subscriber: one SMTP transaction each.
    personalize: Mapped[bool] = mapped_column(Boolean, default=True)
    bounce_threshold: Mapped[float] = mapped_column(Float, default=5.0)
    digest_volume: Mapped[int] = mapped_column(Integer, default=1)
    digest_issue: Mapped[int] = mapped_column(Integer, default=0)  # the last one sent
    # Posts received before this went into a digest already.
    digest_sent_until: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)


class BounceEvent(Base):
    """A bounce received for a subscriber: what it said, and whether it counted."""

    __tablename__ = "bounce_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))
    received_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    permanent: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="")
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    # 'dsn' (a bounce mail) or 'smtp' (refused when we delivered)
    source: Mapped[str] = mapped_column(String(8), default="dsn")

    __table_args__ = (Index("ix_bounce_events_list_received", "list_id", "received_at"),)


class HeldMessage(Base):
    """A post held for moderation: its raw bytes and envelope, kept out of the archive
    until a moderator approves it (then it is stored and delivered as if just received)."""

    __tablename__ = "held_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("mailing_lists.id", ondelete="CASCADE"), index=True
    )
    raw: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    mail_from: Mapped[str] = mapped_column(String(998), default="")
    rcpt_to: Mapped[str] = mapped_column(String(998), default="")  # the list address used
    from_address: Mapped[str] = mapped_column(String(254), default="")  # lower-cased
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(998), default="")
    reason: Mapped[str] = mapped_column(Text, default="")  # why it was held, for moderators
    token: Mapped[str] = mapped_column(String(64), unique=True)  # in the notice's address
    held_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTC_DT)
    # held | approved | rejected | expired
    status: Mapped[str] = mapped_column(String(16), default="held")
    decided_by: Mapped[str] = mapped_column(String(254), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_held_messages_status_expires", "status", "expires_at"),
        # A post is held once per list, even when two intake processes take it at once.
        Index("uq_held_messages_list_message", "list_id", "message_id", unique=True),
    )
