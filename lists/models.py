"""The mailing list's tables: who is subscribed and how, each list's delivery options,
the bounces received, and the posts held for moderation. `MailingList` itself is the
archive's (`archive.models`): the archive stores messages per list.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
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

from core.db import UTC_DT, Base, utcnow


class DeliveryMode(enum.Enum):
    each = "each"  # every post, as it arrives
    digest = "digest"  # one plain-text digest a day (RFC 1153)


class SubscriptionStatus(enum.Enum):
    active = "active"
    disabled = "disabled"  # by bounces: kept, but sent nothing until re-enabled


class Subscription(Base):
    """One address subscribed to one list (`lists.membership`)."""

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


class ListDelivery(Base):
    """How a list sends its mail; one row per list, made with the defaults on first use."""

    __tablename__ = "list_delivery"

    list_id: Mapped[int] = mapped_column(
        ForeignKey("mailing_lists.id", ondelete="CASCADE"), primary_key=True
    )
    subject_prefix: Mapped[str] = mapped_column(String(64), default="")  # "" = no tag
    footer: Mapped[str] = mapped_column(Text, default="")  # "" = no footer
    dmarc_mode: Mapped[str] = mapped_column(String(16), default="auto")  # lists.dmarc.DmarcMode
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


class HeldStatus(enum.StrEnum):
    held = "held"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"


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
    status: Mapped[HeldStatus] = mapped_column(
        Enum(HeldStatus, native_enum=False, length=16), default=HeldStatus.held
    )
    decided_by: Mapped[str] = mapped_column(String(254), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_held_messages_status_expires", "status", "expires_at"),
        # A post is held once per list, even when two intake processes take it at once.
        Index("uq_held_messages_list_message", "list_id", "message_id", unique=True),
    )
