"""The archive's tables: lists, raw messages, thread nodes and threads.

`Message.raw` is the primary record and is never changed after intake; every other
column here (and every other table built from messages) is derived from it and can be
rebuilt with `mailyard reindex`.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from core.db import UTC_DT, Base, utcnow

# RFC 5322 caps a header line at 998 characters; a Message-ID longer than that is junk.
MSGID_MAX = 995


class MessageStatus(enum.Enum):
    received = "received"  # raw bytes stored, not yet parsed, threaded and indexed
    archived = "archived"  # ingested: derived columns, thread and search index are current


class MailingList(Base):
    __tablename__ = "mailing_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner_email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    # Posting policy, SourceHut's defaults.
    reject_html: Mapped[bool] = mapped_column(Boolean, default=True)
    require_list_address: Mapped[bool] = mapped_column(Boolean, default=True)
    # Who may see and use the list (lists.access): public, unlisted (reachable, not
    # listed) or private (only its owner, group and access entries).
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    default_rights: Mapped[str] = mapped_column(String(200), default="browse,reply,post")
    # A group of `accounts` (the archive stores the id and never reads the group).
    owner_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # none | unsubscribed | all: whose posts wait for a moderator (lists.moderation).
    moderation: Mapped[str] = mapped_column(String(16), default="none")
    moderation_days: Mapped[int] = mapped_column(Integer, default=14)  # then held mail expires


class Message(Base):
    """One received message, stored once however many lists it was sent to."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: a cross-post delivered to each list separately links this one row.
    message_id: Mapped[str] = mapped_column(String(MSGID_MAX), index=True, unique=True)
    raw: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    size: Mapped[int] = mapped_column(Integer)
    envelope_from: Mapped[str] = mapped_column(String(998), default="")
    envelope_to: Mapped[list] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow, index=True)
    status: Mapped[MessageStatus] = mapped_column(
        Enum(MessageStatus, native_enum=False, length=16), default=MessageStatus.received
    )
    # Derived from `raw` at ingest.
    subject: Mapped[str] = mapped_column(Text, default="")
    from_name: Mapped[str] = mapped_column(Text, default="")
    from_addr: Mapped[str] = mapped_column(String(998), default="")
    to_text: Mapped[str] = mapped_column(Text, default="")
    cc_text: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    in_reply_to: Mapped[list] = mapped_column(JSON, default=list)
    references: Mapped[list] = mapped_column(JSON, default=list)
    body: Mapped[str] = deferred(mapped_column(Text, default=""))
    parse_problems: Mapped[list] = mapped_column(JSON, default=list)
    # DKIM, checked at intake: 'pass', 'fail' or 'none'.
    dkim_result: Mapped[str] = mapped_column(String(8), default="none")
    dkim_domain: Mapped[str] = mapped_column(String(255), default="")
    dkim_aligned: Mapped[bool] = mapped_column(Boolean, default=False)
    # sha256 of `raw` without transport headers (archive.store.content_fingerprint): how
    # a re-delivery is told from a different message that reuses a Message-ID. None on
    # rows stored before it existed; computed from `raw` when needed.
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    nodes: Mapped[list[ThreadNode]] = relationship(back_populates="message")

    __table_args__ = (
        Index("ix_messages_status_received", "status", "received_at"),
        Index("ix_messages_date", "date"),
    )

    @property
    def sort_date(self) -> datetime:
        """When the message was written, or received if its Date is missing or absurd."""
        return self.date or self.received_at


class AliasKind(enum.Enum):
    # Sent with a Message-ID an earlier, different message has: stored under a generated
    # id, reachable (and threaded) under the one it was sent with, as public-inbox does.
    reused = "reused"
    # A second Message-ID header: the message is reachable under that id too.
    extra_header = "extra_header"


class MessageAlias(Base):
    """Another Message-ID a message answers to, besides the `message_id` it is stored
    under."""

    __tablename__ = "message_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(String(MSGID_MAX), index=True)
    kind: Mapped[AliasKind] = mapped_column(Enum(AliasKind, native_enum=False, length=16))

    __table_args__ = (
        UniqueConstraint("message_pk", "message_id", name="uq_message_aliases_message_msgid"),
    )


class RemovedMessage(Base):
    """A tombstone: an operator removed this Message-ID from a list (`mailyard message
    rm`), so intake and import drop it when it comes again and its URL answers 410."""

    __tablename__ = "removed_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(MSGID_MAX))
    reason: Mapped[str] = mapped_column(Text, default="")
    removed_by: Mapped[str] = mapped_column(String(254), default="")
    removed_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (
        UniqueConstraint("list_id", "message_id", name="uq_removed_messages_list_msgid"),
    )


class Thread(Base):
    __tablename__ = "threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    root_node_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    subject_key: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    last_activity: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    message_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_threads_list_activity", "list_id", "last_activity"),
        Index("ix_threads_activity", "last_activity", "id"),
        Index("ix_threads_list_subject_key", "list_id", "subject_key"),
    )


class ThreadNode(Base):
    """A Message-ID in one list: a received message, or a placeholder for one not seen yet.

    A node with a message is how a message belongs to a list; `parent_id` and `thread_id`
    are set by threading at ingest.
    """

    __tablename__ = "thread_nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(MSGID_MAX))
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=True, index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("thread_nodes.id", ondelete="SET NULL"), nullable=True, index=True
    )
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("threads.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # Copy of the message's sort date, so thread views sort without a join.
    sort_date: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)

    message: Mapped[Message | None] = relationship(back_populates="nodes")

    __table_args__ = (
        UniqueConstraint("list_id", "message_id", name="uq_thread_nodes_list_msgid"),
        Index("ix_thread_nodes_list_date", "list_id", "sort_date"),
    )
