"""Reading trackers and tickets: the pages that list them, the newest events, and which
ticket references exist. Changing them is `trackers.tickets`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from accounts.access import Actor
from trackers.access import TrackerRight, may
from trackers.commands import Status
from trackers.models import Ticket, TicketAssignee, TicketEvent, TicketLabel, Tracker

TICKETS_PAGE = 50


def trackers_owned_by(session: Session, group_id: int) -> list[Tracker]:
    """The trackers the group owns, by name (whoever may browse them)."""
    return list(
        session.scalars(
            select(Tracker).where(Tracker.owner_group_id == group_id).order_by(Tracker.name)
        )
    )


def trackers_by_id(session: Session, ids: list[int]) -> dict[int, Tracker]:
    if not ids:
        return {}
    return {t.id: t for t in session.scalars(select(Tracker).where(Tracker.id.in_(ids)))}


def existing_tickets(
    session: Session, home: Tracker, wanted: set[tuple[str, int]], actor: Actor
) -> set[tuple[str, int]]:
    """Those of `wanted` (tracker name, number) that exist on `home` or on a tracker
    `actor` may browse, in two queries."""
    if not wanted:
        return set()
    names = {
        t.id: t.name
        for t in session.scalars(select(Tracker).where(Tracker.name.in_({n for n, _ in wanted})))
        if t.id == home.id or may(session, t, actor, TrackerRight.browse)
    }
    rows = session.execute(
        select(Ticket.tracker_id, Ticket.number).where(
            Ticket.tracker_id.in_(names), Ticket.number.in_({n for _, n in wanted})
        )
    )
    return {(names[t], n) for t, n in rows} & wanted


def latest_events(
    session: Session, tracker_id: int, limit: int = 20
) -> list[tuple[Ticket, TicketEvent]]:
    """The tracker's newest events, newest first, with their tickets. Every event bumps
    its ticket's `updated_at`, so they are all on the `limit` tickets updated last
    (ix_tickets_tracker_updated), then ix_ticket_events_ticket finds them."""
    tickets = {
        t.id: t
        for t in session.scalars(
            select(Ticket)
            .where(Ticket.tracker_id == tracker_id)
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    }
    if not tickets:
        return []
    events = session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id.in_(list(tickets)))
        .order_by(TicketEvent.id.desc())
        .limit(limit)
    )
    return [(tickets[e.ticket_id], e) for e in events]


@dataclass(frozen=True)
class TicketFilter:
    status: Status | None = None
    open_only: bool = False  # every status but resolved
    label: str | None = None
    assignee: str | None = None
    submitter: str | None = None
    query: str | None = None  # words in the title or description


@dataclass(frozen=True)
class TicketsPage:
    tickets: list[Ticket]
    next_before: tuple[datetime, int] | None  # keyset for the next (older) page


def tickets_page(
    session: Session,
    tracker_id: int,
    wanted: TicketFilter = TicketFilter(),
    *,
    before: tuple[datetime, int] | None = None,
    limit: int = TICKETS_PAGE,
) -> TicketsPage:
    """Tickets most recently updated first, keyset-paginated on (updated_at, id)."""
    query = select(Ticket).where(Ticket.tracker_id == tracker_id)
    if wanted.status is not None:
        query = query.where(Ticket.status == wanted.status)
    elif wanted.open_only:
        query = query.where(Ticket.status != Status.resolved)
    if wanted.submitter:
        query = query.where(Ticket.submitter == wanted.submitter.strip().lower())
    if wanted.query:
        for word in re.findall(r"\w+", wanted.query)[:8]:
            pattern = f"%{word.lower()}%"
            query = query.where(
                or_(
                    func.lower(Ticket.title).like(pattern),
                    func.lower(Ticket.description).like(pattern),
                )
            )
    if wanted.label:
        labelled = select(TicketLabel.ticket_id).where(TicketLabel.name == wanted.label.lower())
        query = query.where(Ticket.id.in_(labelled))
    if wanted.assignee:
        assigned = select(TicketAssignee.ticket_id).where(
            TicketAssignee.address == wanted.assignee.strip().lower()
        )
        query = query.where(Ticket.id.in_(assigned))
    if before is not None:
        when, ticket_id = before
        query = query.where(
            or_(Ticket.updated_at < when, (Ticket.updated_at == when) & (Ticket.id < ticket_id))
        )
    query = query.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit + 1)
    found = list(session.scalars(query))
    page = found[:limit]
    more = len(found) > limit
    return TicketsPage(page, (page[-1].updated_at, page[-1].id) if more and page else None)
