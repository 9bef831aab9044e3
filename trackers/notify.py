"""Mail about a ticket's events, to everyone who follows it but the person who acted.

Every notification of a ticket answers the same Message-ID (the report's own), so a mail
client shows the ticket as one conversation, and its Reply-To is TRACKER+N@DOMAIN, so a
reply becomes a comment. They go through the outbox like all of Mailyard's mail, and only
to those who may browse the tracker (`trackers.access.readers_among`): a notification
carries what the web would show.
"""

from __future__ import annotations

from email.utils import formataddr

from sqlalchemy.orm import Session

from core.settings import Settings
from mail.addresses import list_addresses
from mail.compose import AUTO_GENERATED, build_message
from mail.outbox import send_on_commit
from trackers.access import readers_among
from trackers.models import EventKind, Ticket, TicketEvent, Tracker
from trackers.tickets import Origin, notified_addresses


def ticket_address(tracker: Tracker, ticket: Ticket, domain: str, command: str = "") -> str:
    """TRACKER+N@DOMAIN, or TRACKER+N+COMMAND@DOMAIN."""
    return list_addresses(tracker.name, domain).at(ticket.number, command)


def ticket_url(settings: Settings, tracker: Tracker, ticket: Ticket) -> str:
    return f"{settings.base_url.rstrip('/')}/{tracker.name}/tickets/{ticket.number}/"


def describe_event(event: TicketEvent) -> str:
    """One line for a change (empty for the report and comments, which are text)."""
    data = event.data or {}
    match event.kind:
        case EventKind.status | EventKind.resolution | EventKind.title:
            return f"{event.kind.value}: {data.get('old')} -> {data.get('new')}"
        case EventKind.label | EventKind.unlabel:
            return f"{event.kind.value}: {data.get('label')}"
        case EventKind.assign | EventKind.unassign:
            return f"{event.kind.value}: {data.get('address')}"
        case EventKind.reference:
            return f"referenced by {data.get('what', '')}"
    return ""


def notify_ticket(
    session: Session,
    settings: Settings,
    tracker: Tracker,
    ticket: Ticket,
    events: list[TicketEvent],
    origin: Origin,
) -> None:
    """Queue one notification of `events` to the ticket's followers, minus the actor. The
    caller commits (delivery is enqueued then)."""
    if not events:
        return
    recipients = [a for a in notified_addresses(session, ticket) if a != origin.actor]
    recipients = readers_among(session, tracker, recipients)
    if not recipients:
        return
    domain = settings.domain.lower()
    addresses = list_addresses(tracker.name, domain)
    texts = [e.text for e in events if e.kind in (EventKind.opened, EventKind.comment)]
    changes = [line for line in map(describe_event, events) if line]
    opened = events[0].kind is EventKind.opened
    who = origin.name or origin.address or "someone"
    lines = [f"{who} {'opened' if opened else 'wrote'}:" if texts else f"{who} changed:", ""]
    for text in texts:
        lines += [text.rstrip(), ""]
    if changes:
        lines += (["Changes:"] if texts else []) + [f"  {c}" for c in changes] + [""]
    lines += [
        "-- ",
        f"{tracker.name}#{ticket.number}: {ticket_url(settings, tracker, ticket)}",
        "Reply to this mail to comment; a line '!unsubscribe' stops these notifications.",
    ]
    address = ticket_address(tracker, ticket, domain)
    leave = ticket_address(tracker, ticket, domain, "unsubscribe")  # asks to confirm
    subject = f"[{tracker.name}#{ticket.number}] {ticket.title}"
    raw = build_message(
        from_addr=formataddr((f"{who} via {tracker.name}", addresses.posting)),
        to_addrs=[address],
        subject=subject if opened else f"Re: {subject}",
        body="\n".join(lines) + "\n",
        in_reply_to=ticket.thread_msgid,
        references=[ticket.thread_msgid],
        extra_headers={
            "Reply-To": address,
            "List-Id": addresses.list_id_header,
            "List-Unsubscribe": f"<mailto:{leave}>",
            **AUTO_GENERATED,
            "Precedence": "list",
        },
        domain=domain,
    )
    send_on_commit(
        session,
        envelope_from=addresses.bounces,
        recipients=recipients,
        raw=raw,
        purpose="ticket-notification",
    )
