"""Patches that close tickets: a `Closes: TRACKER#N` (or `Fixes:`, `Resolves:`, or the
ticket's URL) trailer in a patch's commit message notes the patch on the ticket, and
when its patchset is applied the ticket is resolved `fixed`.

Both run as hooks (`archive.hooks`): after a message is ingested, and when a patchset's
status becomes `applied`. A bare `#N` is not followed: a list has no tracker of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.access import ANONYMOUS
from archive.models import MailingList, Message
from archive.urls import message_url
from core.settings import get_settings
from lists.access import ListRight, may
from patchsets.models import Patchset, PatchsetPatch
from patchsets.queries import commit_message
from trackers.commands import Resolution
from trackers.mentions import closing_refs
from trackers.models import EventKind, Ticket, TicketEvent, Tracker
from trackers.notify import notify_ticket
from trackers.tickets import Origin, add_reference, get_ticket, get_tracker, resolve_ticket

_TRAILERS = ("closes:", "fixes:", "resolves:")

_CHUNK = 500  # ids per IN (...): well under every database's parameter limit


def reference_tickets(session: Session, threaded: Sequence[tuple[Message, int]]) -> None:
    """Note each newly archived patch on the tickets its trailers close."""
    settings = get_settings()
    for message, list_id in threaded:
        body = message.body or ""
        if not any(t in body.lower() for t in _TRAILERS):
            continue
        refs = closing_refs(commit_message(body), base_url=settings.base_url)
        mlist = session.get(MailingList, list_id)
        # A ticket shows the patch to whoever reads the tracker: only patches anyone may
        # read are noted, so a private list's work never shows on a ticket.
        if mlist is None or not may(session, mlist, ANONYMOUS, ListRight.browse):
            continue
        for how, ref in refs:
            tracker = get_tracker(session, ref.tracker) if ref.tracker else None
            ticket = get_ticket(session, tracker.id, ref.number) if tracker else None
            if tracker is None or ticket is None:
                continue
            origin = Origin(
                address=message.from_addr, name=message.from_name, message_id=message.message_id
            )
            url = message_url(settings.base_url, mlist.name, message.message_id)
            event = add_reference(
                session,
                ticket,
                f"{message.subject} ({how})",
                origin,
                {"url": url, "how": how, "list": mlist.name},
            )
            if event is not None:
                notify_ticket(session, settings, tracker, ticket, [event], origin)


def resolve_fixed_tickets(session: Session, patchsets: Sequence[Patchset], actor: str) -> None:
    """The tickets the applied patchsets' patches close are resolved `fixed`: one lookup
    for all of them (a push applies hundreds at once)."""
    ids = sorted(p.id for p in patchsets)
    tickets: dict[int, Ticket] = {}
    for start in range(0, len(ids), _CHUNK):
        msgids = select(PatchsetPatch.message_id).where(
            PatchsetPatch.patchset_id.in_(ids[start : start + _CHUNK])
        )
        ticket_ids = select(TicketEvent.ticket_id).where(
            TicketEvent.kind == EventKind.reference, TicketEvent.message_id.in_(msgids)
        )
        for ticket in session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids))):
            tickets[ticket.id] = ticket
    settings = get_settings()
    origin = Origin(address=actor)
    for ticket in sorted(tickets.values(), key=lambda t: t.id):
        events = resolve_ticket(session, ticket, Resolution.fixed, origin)
        if events:
            tracker = session.get(Tracker, ticket.tracker_id)
            assert tracker is not None  # tracker_id is a foreign key (deleting it deletes tickets)
            notify_ticket(session, settings, tracker, ticket, events, origin)
