"""Ticket trackers: tickets opened and discussed by mail, and every change as an event.

A ticket's history is its events, oldest first: the report itself (`opened`), comments,
and each change of status, resolution, title, labels and assignees, each with who did it
and when. The mail that caused an event is kept with it, raw, as received.
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
from sqlalchemy.orm import Mapped, deferred, mapped_column

from archive.models import MSGID_MAX
from core.db import UTC_DT, Base, utcnow
from trackers.commands import Resolution, Status


class Tracker(Base):
    __tablename__ = "trackers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # TRACKER@DOMAIN, /TRACKER/
    description: Mapped[str] = mapped_column(Text, default="")
    owner_email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    last_number: Mapped[int] = mapped_column(Integer, default=0)  # the newest ticket's
    # As for lists (trackers.access): public, unlisted or private, and default rights.
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    default_rights: Mapped[str] = mapped_column(String(200), default="browse,submit,comment")
    owner_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), nullable=True, index=True
    )


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # TRACKER#N, counted per tracker
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[Status] = mapped_column(
        Enum(Status, native_enum=False, length=16), default=Status.reported
    )
    resolution: Mapped[Resolution] = mapped_column(
        Enum(Resolution, native_enum=False, length=16), default=Resolution.unresolved
    )
    submitter: Mapped[str] = mapped_column(String(254))  # the address, lower-cased
    submitter_name: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    # Notifications thread under this Message-ID: the report's own, so the reporter's
    # mail client shows one conversation.
    thread_msgid: Mapped[str] = mapped_column(String(MSGID_MAX))
    # Shown with the ticket; written only through `trackers.tickets.set_labels` and
    # `set_assignees`, which keep TicketLabel and TicketAssignee (the filters' index) equal.
    labels: Mapped[list] = mapped_column(JSON, default=list)  # names, sorted
    assignees: Mapped[list] = mapped_column(JSON, default=list)  # addresses, lower-cased

    __table_args__ = (
        UniqueConstraint("tracker_id", "number", name="uq_tickets_tracker_number"),
        Index("ix_tickets_tracker_status", "tracker_id", "status", "updated_at"),
        Index("ix_tickets_tracker_updated", "tracker_id", "updated_at"),
    )


class TicketLabel(Base):
    """A label on a ticket, beside `Ticket.labels`, so a label filter has an index."""

    __tablename__ = "ticket_labels"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(50), primary_key=True)

    __table_args__ = (Index("ix_ticket_labels_name", "name", "ticket_id"),)


class TicketAssignee(Base):
    """An assignee of a ticket, beside `Ticket.assignees`, so an assignee filter has an
    index."""

    __tablename__ = "ticket_assignees"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(254), primary_key=True)

    __table_args__ = (Index("ix_ticket_assignees_address", "address", "ticket_id"),)


class Label(Base):
    __tablename__ = "tracker_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    color: Mapped[str] = mapped_column(String(7), default="#777777")  # '#rrggbb'

    __table_args__ = (UniqueConstraint("tracker_id", "name", name="uq_tracker_labels"),)


class EventKind(enum.Enum):
    opened = "opened"
    comment = "comment"
    status = "status"
    resolution = "resolution"
    title = "title"
    label = "label"
    unlabel = "unlabel"
    assign = "assign"
    unassign = "unassign"
    reference = "reference"  # a patch or message that mentions the ticket


class TicketEvent(Base):
    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[EventKind] = mapped_column(Enum(EventKind, native_enum=False, length=16))
    actor: Mapped[str] = mapped_column(String(254))  # an address, lower-cased
    actor_name: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    text: Mapped[str] = mapped_column(Text, default="")  # the comment or description
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # {"old": ..., "new": ...}
    message_id: Mapped[str] = mapped_column(String(MSGID_MAX), default="")  # the mail's
    raw: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    # How the actor was authenticated when the mail came: 'dkim', 'pgp' or ''.
    authenticated: Mapped[str] = mapped_column(String(8), default="")

    __table_args__ = (
        Index("ix_ticket_events_ticket", "ticket_id", "id"),
        Index("ix_ticket_events_message_id", "message_id"),
    )


class TicketSubscriber(Base):
    """An address notified of a ticket's events (or of every ticket of a tracker when
    `ticket_id` is None), besides the submitter and assignees; or, `muted`, one of those
    who asked not to be."""

    __tablename__ = "ticket_subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=True
    )
    address: Mapped[str] = mapped_column(String(254))  # lower-cased
    # A submitter or assignee who asked for no more mail about the ticket.
    muted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("tracker_id", "ticket_id", "address", name="uq_ticket_subscribers"),
    )


class TicketCommit(Base):
    """A pushed commit whose trailer names the ticket (`Fixes: bugs#12`): noted once per
    commit per ticket, however many branches the commit is pushed to."""

    __tablename__ = "ticket_commits"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    commit_sha: Mapped[str] = mapped_column(String(64))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_events.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (UniqueConstraint("ticket_id", "commit_sha", name="uq_ticket_commits"),)
