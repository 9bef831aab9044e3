"""Tracker mail: TRACKER@DOMAIN opens a ticket, TRACKER+N@DOMAIN comments on ticket N.

Intake routes these addresses here (`mta.routing`) and, at DATA, runs the tracker's
posting policy (`judge_tracker_mail`) and then `handle_tracker_mail` in one transaction
committed before its `250`. Commands in the text (`trackers.commands`) change the
ticket only when the sender may triage the tracker and their From is authenticated;
refused or unknown commands are answered by mail, the comment is kept either way.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from archive.parse import ParsedMessage
from mailyard.settings import Settings
from mta.dkim import verify_dkim
from mta.models import RequestKind
from mta.outbox import AUTO_REPLIED, build_message, send_on_commit
from mta.policy import (
    Decision,
    Reason,
    check_auto_submitted,
    check_loop,
    check_plain_text,
    check_required_headers,
    first_objection,
    reject,
)
from mta.sender_auth import sender_authenticated
from mta.subscribe import confirmation_request, find_token, unknown_confirmation
from mta.subscriptions import request_change, take_request
from trackers.commands import TRIAGE_COMMANDS, CommandName, format_command_help, parse_reply
from trackers.models import Ticket, TicketEvent, Tracker
from trackers.notify import notify_ticket, ticket_url
from trackers.tickets import (
    CommandRefused,
    Origin,
    add_comment,
    apply_command,
    event_for_message,
    follow,
    get_ticket,
    get_tracker,
    may_triage,
    open_ticket,
    ticket_events,
    unfollow,
)

log = logging.getLogger(__name__)


FOLLOW_COMMANDS = ("subscribe", "unsubscribe", "confirm-subscribe", "confirm-unsubscribe")


@dataclass(frozen=True)
class TrackerTarget:
    tracker_id: int
    name: str
    domain: str
    number: int | None  # None: a new ticket, or the whole tracker
    command: str | None = None  # one of FOLLOW_COMMANDS

    def address(self, command: str | None = None) -> str:
        parts = [
            self.name,
            *([str(self.number)] if self.number else []),
            *([command] if command else []),
        ]
        return f"{'+'.join(parts)}@{self.domain}"

    @property
    def list_id_value(self) -> str:
        return f"{self.name}.{self.domain}"


def find_tracker_target(
    session: Session, settings: Settings, match: re.Match[str]
) -> TrackerTarget | Decision | None:
    """TRACKER or TRACKER+N: the tracker (and ticket), a refusal for a ticket that does
    not exist, or None when there is no such tracker."""
    tracker = get_tracker(session, match.group("name"))
    if tracker is None:
        return None
    domain = settings.domain.lower()
    number = match.groupdict().get("number")
    if number is not None:
        if get_ticket(session, tracker.id, int(number)) is None:
            return reject(
                Reason.UNKNOWN_RECIPIENT,
                f"<{match.group(0)}@{domain}>: {tracker.name} has no ticket {number}",
            )
    command = match.groupdict().get("command")
    return TrackerTarget(tracker.id, tracker.name, domain, int(number) if number else None, command)


def judge_tracker_mail(msg: ParsedMessage, target: TrackerTarget) -> Decision:
    """The lists' policy: robots and loops dropped, plain text with From, Subject and
    Message-ID required."""
    return first_objection(
        (
            check_auto_submitted(msg),
            check_loop(msg, target.list_id_value),
            check_required_headers(msg),
            check_plain_text(msg),
        )
    )


def handle_tracker_mail(
    session: Session, settings: Settings, msg: ParsedMessage, raw: bytes, target: TrackerTarget
) -> None:
    """Open a ticket or comment on one, then apply the commands; the caller commits."""
    if target.command is not None:
        handle_follow_mail(session, settings, msg, target)
        return
    if event_for_message(session, msg.message_id or ""):
        log.info("<%s> is on a ticket already; dropped", msg.message_id)
        return
    tracker = session.get(Tracker, target.tracker_id)
    if tracker is None:
        return
    sender = msg.from_.addr if msg.from_ else ""
    dkim = verify_dkim(raw, sender.rpartition("@")[2].lower())
    origin = Origin(
        address=sender,
        name=msg.from_.name if msg.from_ else "",
        message_id=msg.message_id or "",
        raw=raw,
        authenticated=sender_authenticated(
            session, sender, raw, dkim_aligned_pass=dkim.result == "pass" and dkim.aligned
        )
        or "",
    )
    reply = parse_reply(msg.body)
    events: list[TicketEvent] = []
    if target.number is None:
        ticket = open_ticket(session, tracker, msg.subject, reply.comment, origin)
        events.append(_first_event(session, ticket))
    else:
        ticket = get_ticket(session, tracker.id, target.number)
        if ticket is None:
            return
        if reply.comment.strip():
            events.append(add_comment(session, ticket, reply.comment, origin))
            follow(session, tracker.id, ticket, origin.actor)  # commenters follow the ticket
    refusals = [f"{p.line}\n    {p.reason}" for p in reply.problems]
    for command in reply.commands:
        try:
            events += _apply(session, tracker, ticket, command, origin)
        except CommandRefused as refused:
            refusals.append(f"{command.line}\n    {refused}")
    notify_ticket(session, settings, tracker, ticket, events, origin)
    if refusals:
        _reply_refusals(session, settings, tracker, ticket, msg, origin, refusals)


def _first_event(session: Session, ticket: Ticket) -> TicketEvent:
    return ticket_events(session, ticket)[0]


def _apply(session, tracker, ticket, command, origin: Origin) -> list[TicketEvent]:
    if command.name is CommandName.subscribe:
        follow(session, tracker.id, ticket, origin.actor)
        return []
    if command.name is CommandName.unsubscribe:
        unfollow(session, tracker.id, ticket, origin.actor)
        return []
    assert command.name in TRIAGE_COMMANDS
    if not may_triage(session, tracker, origin.actor):
        raise CommandRefused(f"{origin.actor} may not triage {tracker.name}")
    if origin.authenticated not in ("dkim", "pgp"):
        raise CommandRefused(
            f"{origin.actor} is not authenticated: commands need a DKIM signature that passes"
            " and is aligned with the From domain, or a PGP signature by a key registered"
            " for that address"
        )
    return apply_command(session, tracker, ticket, command, origin)


def _reply_refusals(
    session: Session,
    settings: Settings,
    tracker: Tracker,
    ticket: Ticket,
    msg: ParsedMessage,
    origin: Origin,
    refusals: list[str],
) -> None:
    """Tell the sender which commands did nothing, and why; their text was kept."""
    domain = settings.domain.lower()
    body = (
        f"Your mail about {tracker.name}#{ticket.number} was kept, but these commands did"
        " nothing:\n\n"
        + "\n".join(refusals)
        + f"\n\nThe commands are:\n{format_command_help()}\n"
        + f"-- \n{ticket_url(settings, tracker, ticket)}\n"
    )
    subject = msg.subject or ""
    raw = build_message(
        from_addr=f"{tracker.name}@{domain}",
        to_addrs=[origin.address],
        subject=subject if subject.lower().startswith("re:") else f"Re: {subject}",
        body=body,
        in_reply_to=msg.message_id,
        references=msg.references,
        extra_headers={**AUTO_REPLIED, "List-Id": f"<{tracker.name}.{domain}>"},
        domain=domain,
    )
    send_on_commit(
        session,
        envelope_from=f"{tracker.name}+bounces@{domain}",
        recipients=[origin.address],
        raw=raw,
        purpose="ticket-command-refused",
    )


def handle_follow_mail(
    session: Session, settings: Settings, msg: ParsedMessage, target: TrackerTarget
) -> None:
    """TRACKER[+N]+subscribe@ and +unsubscribe@ ask for a confirmation by reply, as the
    lists' addresses do; TRACKER[+N]+confirm-*@ complete it."""
    tracker = session.get(Tracker, target.tracker_id)
    ticket = get_ticket(session, tracker.id, target.number) if target.number else None
    if tracker is None or (target.number and ticket is None):
        return
    scope = f"ticket:{ticket.id}" if ticket else f"tracker:{tracker.id}"
    what = f"{tracker.name}#{ticket.number}" if ticket else f"every ticket of {tracker.name}"
    sender = msg.from_.addr if msg.from_ else ""
    command = target.command or ""
    kind = RequestKind.unsubscribe if command.endswith("unsubscribe") else RequestKind.subscribe
    if command.startswith("confirm-"):
        token = find_token(msg)
        pending = take_request(session, scope, kind, token) if token else None
        if pending is None:
            subject, body = unknown_confirmation(target.address(kind.value))
        elif kind is RequestKind.subscribe:
            follow(session, tracker.id, ticket, pending.address)
            subject, body = (
                f"Following {what}",
                (
                    f"{pending.address} now gets mail about {what}.\n"
                    f"To stop, write to {target.address('unsubscribe')}.\n"
                ),
            )
        else:
            unfollow(session, tracker.id, ticket, pending.address)
            subject, body = (
                f"No longer following {what}",
                (f"{pending.address} no longer gets mail about {what}.\n"),
            )
        reply_from = target.address()
    else:
        pending = request_change(session, scope, kind, sender)
        verb = "follow" if kind is RequestKind.subscribe else "stop following"
        subject, body = confirmation_request(pending, f"that {pending.address} {verb} {what}")
        reply_from = target.address(f"confirm-{kind.value}")
    raw = build_message(
        from_addr=reply_from,
        to_addrs=[sender],
        subject=subject,
        body=body,
        in_reply_to=msg.message_id,
        references=msg.references,
        extra_headers={**AUTO_REPLIED, "List-Id": f"<{target.list_id_value}>"},
        domain=target.domain,
    )
    send_on_commit(
        session,
        envelope_from=f"{tracker.name}+bounces@{target.domain}",
        recipients=[sender],
        raw=raw,
        purpose=f"tracker-{command}"[:32],
    )
