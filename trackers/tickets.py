"""Trackers and tickets: creating them, commenting, and the changes commands make.

Shared by the mail path (`trackers.mail`), the web and the CLI. Every change is an event
with its actor; the caller commits, and sends the notifications (`trackers.notify`).
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from accounts.access import actor_for_address, set_entry
from archive.lists import get_list
from core.db import utcnow
from core.errors import UserError
from lists.manage import checked_name_and_owner
from trackers.access import TRACKER_RIGHTS, TrackerRight, may, tracker_scope
from trackers.commands import Command, CommandName, Resolution, Status
from trackers.models import (
    EventKind,
    Label,
    Ticket,
    TicketAssignee,
    TicketEvent,
    TicketLabel,
    TicketSubscriber,
    Tracker,
)


class TrackerError(UserError):
    """A tracker operation cannot be done; the message says why, for a person."""


class CommandRefused(UserError):
    """A command the sender may not use, or that cannot apply; the message says why."""


# Labels sort tickets; past a few dozen they only bloat its page (5,000 labels once made
# one of 471 KB) and the tracker's stylesheet, which has a class per label.
MAX_LABELS_PER_TICKET = 20
MAX_LABELS_PER_TRACKER = 200


# -- trackers ----------------------------------------------------------------------------


def create_tracker(session: Session, name: str, owner_email: str, description: str = "") -> Tracker:
    """A tracker at NAME@DOMAIN; lists and trackers share the address space."""
    name, owner = checked_name_and_owner(name, owner_email, what="tracker", error=TrackerError)
    if get_tracker(session, name) is not None or get_list(session, name) is not None:
        raise TrackerError(f"{name!r} is taken: a list or tracker has that address")
    tracker = Tracker(name=name, owner_email=owner, description=description.strip())
    tracker.last_number = 0
    session.add(tracker)
    session.flush()
    return tracker


def get_tracker(session: Session, name: str) -> Tracker | None:
    return session.scalar(select(Tracker).where(Tracker.name == name.lower()))


def tracker_named(session: Session, name: str) -> bool:
    return get_tracker(session, name) is not None


def all_trackers(session: Session) -> list[Tracker]:
    return list(session.scalars(select(Tracker).order_by(Tracker.name)))


def grant(
    session: Session, tracker: Tracker, address: str, rights: Iterable[str] = TRACKER_RIGHTS
) -> None:
    """Give `address` exactly `rights` on `tracker` (an access entry; every right by
    default)."""
    set_entry(session, tracker_scope(tracker), rights, address=address)


def may_triage(session: Session, tracker: Tracker, address: str) -> bool:
    """Whether mail from `address` may use the triage commands (its authentication is
    checked apart)."""
    return may(session, tracker, actor_for_address(session, address), TrackerRight.triage)


# -- tickets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Who caused a change, and the mail that carried it ('' and None from the web)."""

    address: str
    name: str = ""
    message_id: str = ""
    raw: bytes | None = None
    authenticated: str = ""  # 'dkim', 'pgp', 'web' or ''
    signed_text: str | None = None  # with 'pgp', the text the signature covers

    @property
    def actor(self) -> str:
        return self.address.strip().lower()


def open_ticket(
    session: Session, tracker: Tracker, title: str, description: str, origin: Origin
) -> Ticket:
    """A new ticket numbered after the tracker's newest; the caller commits."""
    # One UPDATE takes the number, so two tickets opened at once never share one.
    number = session.execute(
        update(Tracker)
        .where(Tracker.id == tracker.id)
        .values(last_number=Tracker.last_number + 1)
        .returning(Tracker.last_number)
    ).scalar_one()
    now = utcnow()
    ticket = Ticket(
        tracker_id=tracker.id,
        number=number,
        title=_one_line(title) or "(no title)",
        description=description,
        status=Status.reported,
        resolution=Resolution.unresolved,
        submitter=origin.actor,
        submitter_name=origin.name,
        created_at=now,
        updated_at=now,
        thread_msgid=origin.message_id or f"ticket-{tracker.name}-{number}@mailyard",
        labels=[],
        assignees=[],
    )
    session.add(ticket)
    session.flush()
    _event(session, ticket, EventKind.opened, origin, text=description)
    return ticket


def get_ticket(session: Session, tracker_id: int, number: int) -> Ticket | None:
    return session.scalar(
        select(Ticket).where(Ticket.tracker_id == tracker_id, Ticket.number == number)
    )


def add_comment(session: Session, ticket: Ticket, text: str, origin: Origin) -> TicketEvent:
    ticket.updated_at = utcnow()
    return _event(session, ticket, EventKind.comment, origin, text=text)


def ticket_events(
    session: Session, ticket: Ticket, *, after: int = 0, limit: int | None = None
) -> list[TicketEvent]:
    """The ticket's events in order, from the one after id `after`, at most `limit`."""
    query = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.id > after)
        .order_by(TicketEvent.id)
    )
    return list(session.scalars(query if limit is None else query.limit(limit)))


def event_for_message(session: Session, message_id: str) -> TicketEvent | None:
    """The event a mail already made: a re-delivered mail must not comment twice."""
    if not message_id:
        return None
    return session.scalar(
        select(TicketEvent).where(
            TicketEvent.message_id == message_id,
            TicketEvent.kind.in_((EventKind.opened, EventKind.comment)),
        )
    )


def add_reference(
    session: Session, ticket: Ticket, what: str, origin: Origin, data: dict
) -> TicketEvent | None:
    """Note that a mail (`origin.message_id`) refers to the ticket; once per mail."""
    seen = session.scalar(
        select(TicketEvent.id).where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.kind == EventKind.reference,
            TicketEvent.message_id == origin.message_id,
        )
    )
    if seen is not None:
        return None
    return _event(session, ticket, EventKind.reference, origin, data={"what": what, **data})


def add_commit_reference(
    session: Session, ticket: Ticket, what: str, origin: Origin, data: dict
) -> TicketEvent:
    """Note that a pushed commit refers to the ticket (the caller notes it once, in
    `ticket_commits`)."""
    return _event(session, ticket, EventKind.reference, origin, data={"what": what, **data})


def resolve_ticket(
    session: Session, ticket: Ticket, resolution: Resolution, origin: Origin
) -> list[TicketEvent]:
    """Resolved with `resolution`; the events it made (none when it was already)."""
    events = _set_status(session, ticket, Status.resolved, origin)
    return events + _set_resolution(session, ticket, resolution, origin)


def apply_command(
    session: Session, tracker: Tracker, ticket: Ticket, command: Command, origin: Origin
) -> list[TicketEvent]:
    """Do one triage command; returns the events it made (none when nothing changed).

    Raises CommandRefused when it cannot apply. The caller checks who may use it.
    """
    name, args = command.name, command.args
    if name is CommandName.resolve:
        return resolve_ticket(session, ticket, Resolution(args[0]), origin)
    if name is CommandName.reopen:
        events = _set_status(session, ticket, Status.reported, origin)
        return events + _set_resolution(session, ticket, Resolution.unresolved, origin)
    if name is CommandName.status:
        return _set_status(session, ticket, Status(args[0]), origin)
    if name is CommandName.title:
        return retitle(session, ticket, args[0], origin)
    if name in (CommandName.label, CommandName.unlabel):
        return _change_labels(session, tracker, ticket, name, args, origin)
    if name in (CommandName.assign, CommandName.unassign):
        who = origin.actor if args[0] == "me" else args[0].strip().lower()
        assigned = list(ticket.assignees)
        if name is CommandName.assign and who not in assigned:
            set_assignees(session, ticket, [*assigned, who])
            return [_event(session, ticket, EventKind.assign, origin, data={"address": who})]
        if name is CommandName.unassign and who in assigned:
            set_assignees(session, ticket, [a for a in assigned if a != who])
            return [_event(session, ticket, EventKind.unassign, origin, data={"address": who})]
        return []
    raise CommandRefused(f"{command.line} is not a triage command")


def retitle(session: Session, ticket: Ticket, title: str, origin: Origin) -> list[TicketEvent]:
    """A new title (one line); the event it made, none when it is the same."""
    old, new = ticket.title, _one_line(title)
    if not new:
        raise CommandRefused("a ticket needs a title")
    if old == new:
        return []
    ticket.title = new
    return [_event(session, ticket, EventKind.title, origin, data={"old": old, "new": new})]


def _set_status(session, ticket: Ticket, status: Status, origin: Origin) -> list[TicketEvent]:
    if ticket.status is status:
        return []
    old, ticket.status = ticket.status, status
    data = {"old": old.value, "new": status.value}
    return [_event(session, ticket, EventKind.status, origin, data=data)]


def _set_resolution(
    session, ticket: Ticket, resolution: Resolution, origin: Origin
) -> list[TicketEvent]:
    if ticket.resolution is resolution:
        return []
    old, ticket.resolution = ticket.resolution, resolution
    data = {"old": old.value, "new": resolution.value}
    return [_event(session, ticket, EventKind.resolution, origin, data=data)]


def _change_labels(session, tracker, ticket, name, args, origin) -> list[TicketEvent]:
    current = set(ticket.labels)
    if name is CommandName.label:
        changed = [a for a in args if a not in current]
        _check_label_limits(session, tracker, ticket, changed)
        for label in changed:
            ensure_label(session, tracker, label)
        set_labels(session, ticket, current | set(changed))
        kind = EventKind.label
    else:
        changed = [a for a in args if a in current]
        set_labels(session, ticket, current - set(changed))
        kind = EventKind.unlabel
    return [_event(session, ticket, kind, origin, data={"label": label}) for label in changed]


def _check_label_limits(
    session: Session, tracker: Tracker, ticket: Ticket, adding: list[str]
) -> None:
    """CommandRefused when `adding` would take the ticket or the tracker past its limit."""
    if not adding:
        return
    have = len(ticket.labels)
    if have + len(adding) > MAX_LABELS_PER_TICKET:
        raise CommandRefused(
            f"a ticket has at most {MAX_LABELS_PER_TICKET} labels; {tracker.name}#{ticket.number}"
            f" has {have} and this adds {len(adding)}: remove some with !unlabel first"
        )
    known = set(tracker_labels(session, tracker.id))
    new = [label for label in adding if label not in known]
    if new and len(known) + len(new) > MAX_LABELS_PER_TRACKER:
        raise CommandRefused(
            f"{tracker.name} has {len(known)} labels, and a tracker has at most"
            f" {MAX_LABELS_PER_TRACKER}: use one it has rather than {', '.join(new)}"
        )


def set_labels(session: Session, ticket: Ticket, names: Iterable[str]) -> None:
    """The ticket's labels, and their index rows."""
    wanted = sorted(set(names))
    ticket.labels = wanted
    _sync_rows(session, TicketLabel, TicketLabel.name, ticket, wanted)


def set_assignees(session: Session, ticket: Ticket, addresses: Iterable[str]) -> None:
    """The ticket's assignees (lower-cased), and their index rows."""
    wanted = sorted({a.strip().lower() for a in addresses})
    ticket.assignees = wanted
    _sync_rows(session, TicketAssignee, TicketAssignee.address, ticket, wanted)


def _sync_rows(session: Session, model, column, ticket: Ticket, wanted: list[str]) -> None:
    session.flush()  # the ticket has its id
    have = set(session.scalars(select(column).where(model.ticket_id == ticket.id)))
    gone = have - set(wanted)
    if gone:
        session.execute(delete(model).where(model.ticket_id == ticket.id, column.in_(gone)))
    key = column.key
    session.add_all(
        model(ticket_id=ticket.id, **{key: value}) for value in wanted if value not in have
    )
    session.flush()


def ensure_label(session: Session, tracker: Tracker, name: str, color: str = "") -> Label:
    label = session.scalar(select(Label).where(Label.tracker_id == tracker.id, Label.name == name))
    if label is None:
        label = Label(tracker_id=tracker.id, name=name, color=color or _color_for(name))
        session.add(label)
        session.flush()
    return label


def tracker_labels(session: Session, tracker_id: int) -> dict[str, str]:
    """Label name -> colour."""
    rows = session.execute(
        select(Label.name, Label.color).where(Label.tracker_id == tracker_id).order_by(Label.name)
    )
    return {name: color for name, color in rows}


def _color_for(name: str) -> str:
    """A stable colour per label name, dark enough for white text."""
    h = sum(ord(c) * 31**i for i, c in enumerate(name)) % 360

    r, g, b = colorsys.hls_to_rgb(h / 360, 0.35, 0.55)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _event(
    session: Session,
    ticket: Ticket,
    kind: EventKind,
    origin: Origin,
    *,
    text: str = "",
    data: dict | None = None,
) -> TicketEvent:
    now = utcnow()
    ticket.updated_at = now
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        actor=origin.actor,
        actor_name=origin.name,
        created_at=now,
        text=text,
        data=data or {},
        # Only the event a mail made keeps its Message-ID: it finds that event again.
        message_id=origin.message_id if kind in _MAIL_EVENTS else "",
        raw=origin.raw if kind in (EventKind.opened, EventKind.comment) else None,
        authenticated=origin.authenticated,
    )
    session.add(event)
    session.flush()
    return event


_MAIL_EVENTS = (EventKind.opened, EventKind.comment, EventKind.reference)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


# -- subscribers -------------------------------------------------------------------------


def follow(session: Session, tracker_id: int, ticket: Ticket | None, address: str) -> bool:
    """Notify `address` of a ticket's events, or of every ticket's when `ticket` is None.
    False when it did already."""
    address = address.strip().lower()
    row = _following(session, tracker_id, ticket, address)
    if row is not None and not row.muted:
        return False
    if row is None:
        row = TicketSubscriber(
            tracker_id=tracker_id, ticket_id=ticket.id if ticket else None, address=address
        )
        session.add(row)
    row.muted = False
    session.flush()
    return True


def unfollow(session: Session, tracker_id: int, ticket: Ticket | None, address: str) -> bool:
    """Stop notifying `address`; for a ticket's submitter or assignee, who are notified
    without following, the row stays as a mute. False when it was not notified."""
    address = address.strip().lower()
    row = _following(session, tracker_id, ticket, address)
    involved = ticket is not None and address in (ticket.submitter, *ticket.assignees)
    if involved:
        if row is not None and row.muted:
            return False
        if row is None:
            assert ticket is not None  # involved in it
            row = TicketSubscriber(tracker_id=tracker_id, ticket_id=ticket.id, address=address)
            session.add(row)
        row.muted = True
    elif row is None or row.muted:
        return False
    else:
        session.delete(row)
    session.flush()
    return True


def _following(
    session: Session, tracker_id: int, ticket: Ticket | None, address: str
) -> TicketSubscriber | None:
    which = (
        TicketSubscriber.ticket_id == ticket.id
        if ticket is not None
        else TicketSubscriber.ticket_id.is_(None)
    )
    return session.scalar(
        select(TicketSubscriber).where(
            TicketSubscriber.tracker_id == tracker_id,
            which,
            TicketSubscriber.address == address.strip().lower(),
        )
    )


def notified_addresses(session: Session, ticket: Ticket) -> list[str]:
    """Submitter, assignees, the ticket's and the tracker's subscribers; each once, and
    none who muted the ticket."""
    rows = session.execute(
        select(TicketSubscriber.address, TicketSubscriber.ticket_id, TicketSubscriber.muted).where(
            TicketSubscriber.tracker_id == ticket.tracker_id,
            or_(TicketSubscriber.ticket_id == ticket.id, TicketSubscriber.ticket_id.is_(None)),
        )
    ).all()
    muted = {address for address, ticket_id, is_muted in rows if is_muted and ticket_id}
    following = [address for address, _, is_muted in rows if not is_muted]
    everyone = dict.fromkeys([ticket.submitter, *ticket.assignees, *following])
    return [address for address in everyone if address not in muted]
