"""Tracker mail: TRACKER@DOMAIN opens a ticket, TRACKER+N@DOMAIN comments on ticket N.

Intake routes these addresses here (`trackers.addresses`) and, at DATA, runs the tracker's
posting policy (`judge_tracker_mail`) and then `handle_tracker_mail` in one transaction
committed before its `250`. The tracker's rights (`trackers.access`) decide the rest:

- opening a ticket needs `submit` and commenting `comment`, for the sender as
  `actor_for_mail` sees them (their account only when the From is authenticated); a
  report refused is not kept, and the sender is told why by reply; a report kept is
  acknowledged to its sender with the ticket's number, address and link;
- commands in the text (`trackers.commands`) change the ticket only when the sender's
  account or address may triage (`!title` also with `edit`) and their From is
  authenticated; a PGP-signed mail's commands also need the ticket named in the signed
  text, and act once (`mail.signed_commands`); refused or unknown commands are answered
  by mail, and a comment the sender may post is kept either way;
- following needs `browse`: notifications carry the tickets' text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from accounts import ratelimit
from accounts.access import actor_for_address
from accounts.sender_auth import Proof, mail_sender
from archive.parse import ParsedMessage
from core.settings import Settings
from mail.addresses import list_addresses
from mail.compose import reply_to
from mail.confirmation import (
    confirmation_request,
    find_token,
    request_change,
    take_request,
    unknown_confirmation,
)
from mail.models import RequestKind
from mail.policy import (
    ACCEPT,
    Decision,
    Reason,
    check_auto_submitted,
    check_loop,
    check_plain_text,
    check_required_headers,
    first_objection,
    reject,
    unknown_address,
)
from mail.signed_commands import SignedCommandRefused, use_signed_command
from trackers.access import (
    AUTHENTICATED,
    TrackerRight,
    actor_for_mail,
    is_stranger,
    tracker_rights,
)
from trackers.commands import (
    TRIAGE_COMMANDS,
    Command,
    CommandName,
    format_command_help,
    parse_reply,
)
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
        """TRACKER[+N][+COMMAND]@DOMAIN."""
        return list_addresses(self.name, self.domain).at(self.number, command)

    @property
    def list_id_value(self) -> str:
        return list_addresses(self.name, self.domain).list_id


def screen_tracker_strangers(
    session: Session, settings: Settings, address: str, match: re.Match[str], sender: str
) -> Decision | None:
    """A private tracker's addresses, tickets included, are unknown to an envelope sender
    who may not see it (counted as the account behind the address: RCPT cannot tell
    more), in the words a tracker that does not exist gets."""
    tracker = get_tracker(session, match.group("name"))
    if tracker is not None and is_stranger(session, tracker, actor_for_address(session, sender)):
        return unknown_address(settings.domain, address)
    return None


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


@dataclass(frozen=True)
class Sender:
    """The rights a mail's sender has on the tracker: as the mail counts (`rights`), and as
    their account would count if the mail were authenticated (`claimed`)."""

    origin: Origin
    rights: frozenset[str]
    claimed: frozenset[str]
    username: str  # the account behind the address, '' when none

    @classmethod
    def of(cls, session: Session, tracker: Tracker, origin: Origin) -> Sender:
        claimed_actor = actor_for_address(session, origin.actor)
        claimed = tracker_rights(session, tracker, claimed_actor)
        if origin.authenticated in AUTHENTICATED:
            rights = claimed
        else:
            rights = tracker_rights(
                session, tracker, actor_for_mail(session, origin.actor, origin.authenticated)
            )
        return cls(origin, rights, claimed, claimed_actor.username)

    def why_not(self, tracker: Tracker, verb: str, right: str) -> str:
        """Why this sender may not `verb` (which needs `right`), in words for them."""
        reason = f"{self.origin.actor or 'an unknown sender'} may not {verb} on {tracker.name}"
        if right in self.claimed:
            reason += (
                f": the mail is not authenticated, so it does not count as ~{self.username}"
                if self.username
                else ": the mail is not authenticated"
            ) + f" ({NEEDS_AUTHENTICATION})"
        return reason


NEEDS_AUTHENTICATION = (
    "a DKIM signature that passes and is aligned with the From domain, or a PGP signature"
    " by a key registered for that address"
)


def judge_tracker_rights(
    session: Session, settings: Settings, msg: ParsedMessage, raw: bytes, target: TrackerTarget
) -> Decision:
    """A report from someone who may not open tickets is refused at DATA (`550 5.7.1`
    with the reason), for intake to ask once the policy (`judge_tracker_mail`) accepted
    the mail. Authentication, which may ask DNS, is checked only when it matters: when
    the sender's address alone may not submit but their account may.

    A From that may not see a private tracker at all is refused first, whatever the
    address, as RCPT refuses such an envelope sender (`screen_tracker_strangers`): no
    answer by mail names the tracker to them."""
    tracker = session.get(Tracker, target.tracker_id)
    if tracker is None:
        return ACCEPT
    address = msg.from_.addr if msg.from_ else ""
    if is_stranger(session, tracker, actor_for_address(session, address)):
        return unknown_address(settings.domain, target.address(target.command))
    if target.command is not None or target.number is not None:
        return ACCEPT  # comments and commands are answered by mail, one by one
    if TrackerRight.submit in tracker_rights(
        session, tracker, actor_for_mail(session, address, "")
    ):
        return ACCEPT
    sender = Sender.of(session, tracker, _origin(session, msg, raw))
    if TrackerRight.submit in sender.rights:
        return ACCEPT
    return reject(Reason.NOT_ALLOWED, sender.why_not(tracker, "open tickets", TrackerRight.submit))


def _origin(session: Session, msg: ParsedMessage, raw: bytes) -> Origin:
    """The mail's sender, authenticated or not (`accounts.sender_auth`)."""
    address = msg.from_.addr if msg.from_ else ""
    sender = mail_sender(session, address, raw, proven_by=msg.from_proven_by)
    return Origin(
        address=address,
        name=msg.from_.name if msg.from_ else "",
        message_id=msg.message_id or "",
        raw=raw,
        authenticated=sender.how or "",
        signed_text=sender.signed_text,
    )


def handle_tracker_mail(
    session: Session, settings: Settings, msg: ParsedMessage, raw: bytes, target: TrackerTarget
) -> None:
    """Open a ticket or comment on one, then apply the commands; the caller commits.

    A report the sender may not make is answered by mail here when intake did not
    already refuse it (`judge_tracker_rights`)."""
    if target.command is not None:
        handle_follow_mail(session, settings, msg, target)
        return
    if event_for_message(session, msg.message_id or ""):
        log.info("<%s> is on a ticket already; dropped", msg.message_id)
        return
    tracker = session.get(Tracker, target.tracker_id)
    if tracker is None:
        return
    origin = _origin(session, msg, raw)
    sender = Sender.of(session, tracker, origin)
    reply = parse_reply(msg.body)
    events: list[TicketEvent] = []
    refusals: list[str] = []
    comment_refused = ""
    ticket: Ticket | None
    if target.number is None:
        if TrackerRight.submit not in sender.rights:
            log.info("%s may not open tickets on %s: refused", origin.actor, tracker.name)
            _reply_not_opened(
                session,
                settings,
                tracker,
                msg,
                origin,
                sender.why_not(tracker, "open tickets", TrackerRight.submit),
            )
            return
        ticket = open_ticket(session, tracker, msg.subject, reply.comment, origin)
        events.append(_first_event(session, ticket))
        _acknowledge(session, settings, tracker, ticket, msg, sender)
    else:
        ticket = get_ticket(session, tracker.id, target.number)
        if ticket is None:
            return
        if reply.comment.strip():
            if TrackerRight.comment in sender.rights:
                events.append(add_comment(session, ticket, reply.comment, origin))
                follow(session, tracker.id, ticket, origin.actor)  # commenters follow the ticket
            else:
                comment_refused = sender.why_not(tracker, "comment", TrackerRight.comment)
    refusals += [f"{p.line}\n    {p.reason}" for p in reply.problems]
    signed_refusal = _signed_commands_refusal(
        session,
        settings,
        tracker,
        ticket,
        msg,
        reply.commands,
        sender,
        opened=target.number is None,
    )
    for command in reply.commands:
        try:
            events += _apply(session, tracker, ticket, command, sender, signed_refusal)
        except CommandRefused as refused:
            refusals.append(f"{command.line}\n    {refused}")
    notify_ticket(session, settings, tracker, ticket, events, origin)
    if refusals or comment_refused:
        _reply_refusals(session, settings, tracker, ticket, msg, sender, refusals, comment_refused)


def _first_event(session: Session, ticket: Ticket) -> TicketEvent:
    return ticket_events(session, ticket)[0]


def _signed_commands_refusal(
    session: Session,
    settings: Settings,
    tracker: Tracker,
    ticket: Ticket,
    msg: ParsedMessage,
    commands: list[Command],
    sender: Sender,
    *,
    opened: bool,
) -> str:
    """Why the triage commands of an authenticated mail may not act on this ticket ('' when
    they may), asked once per mail and only of a sender who may triage. The envelope says
    where a mail goes, and no signature covers it:

    - DKIM signs the headers: the mail must be addressed, in To or Cc, to the ticket (or,
      opening one, to the tracker), or a signed mail sent elsewhere (a list post) could
      be delivered to any ticket and act there;
    - PGP signs only the text: it must name the ticket, unless the mail opened it, and it
      acts once (`mail.signed_commands`)."""
    origin = sender.origin
    if not any(c.name in TRIAGE_COMMANDS for c in commands):
        return ""
    if not {TrackerRight.triage, TrackerRight.edit} & sender.claimed:
        return ""  # refused for their rights anyway
    addresses = list_addresses(tracker.name, settings.domain)
    address = addresses.posting if opened else addresses.at(ticket.number)
    if origin.authenticated == Proof.dkim:
        if any(a.addr.lower() == address.lower() for a in (*msg.to, *msg.cc)):
            return ""
        return (
            f"the mail is not addressed to {address} in To or Cc, so its DKIM signature does"
            f" not say it is meant for {tracker.name}#{ticket.number}"
        )
    if origin.authenticated != "pgp":
        return ""
    url = ticket_url(settings, tracker, ticket)
    reference = f"{tracker.name}#{ticket.number}"
    try:
        use_signed_command(
            session,
            origin.signed_text,
            None if opened else [url, reference, address],
            purpose="ticket-command",
            target=url,
            how_to_name=f"the ticket's URL {url}, {reference} or {address}",
        )
    except SignedCommandRefused as refused:
        return str(refused)
    return ""


def _apply(
    session: Session,
    tracker: Tracker,
    ticket: Ticket,
    command: Command,
    sender: Sender,
    signed_refusal: str = "",
) -> list[TicketEvent]:
    origin = sender.origin
    if command.name is CommandName.subscribe:
        if TrackerRight.browse not in sender.claimed:
            raise CommandRefused(f"{origin.actor} may not read {tracker.name}, so cannot follow it")
        follow(session, tracker.id, ticket, origin.actor)
        return []
    if command.name is CommandName.unsubscribe:
        unfollow(session, tracker.id, ticket, origin.actor)
        return []
    assert command.name in TRIAGE_COMMANDS
    # `!title` is what the edit right is for; every command is what triage is for.
    needed = (
        (TrackerRight.edit, TrackerRight.triage)
        if command.name is CommandName.title
        else (TrackerRight.triage,)
    )
    if not any(right in sender.claimed for right in needed):
        verb = "edit or triage" if len(needed) > 1 else "triage"
        raise CommandRefused(f"{origin.actor} may not {verb} {tracker.name}")
    if origin.authenticated not in AUTHENTICATED:
        raise CommandRefused(
            f"{origin.actor} is not authenticated: commands need {NEEDS_AUTHENTICATION}"
        )
    if signed_refusal:
        raise CommandRefused(signed_refusal)
    return apply_command(session, tracker, ticket, command, origin)


def _reply_refusals(
    session: Session,
    settings: Settings,
    tracker: Tracker,
    ticket: Ticket,
    msg: ParsedMessage,
    sender: Sender,
    refusals: list[str],
    comment_refused: str = "",
) -> None:
    """Tell the sender what of their mail did nothing, and why."""
    what = f"{tracker.name}#{ticket.number}"
    if comment_refused:
        body = f"Your comment on {what} was not posted:\n\n    {comment_refused}\n\n"
        if refusals:
            body += "These commands did nothing either:\n\n" + "\n".join(refusals) + "\n\n"
    else:
        body = (
            f"Your mail about {what} was kept, but these commands did nothing:\n\n"
            + "\n".join(refusals)
            + "\n\n"
        )
    if refusals:
        body += f"The commands are:\n{format_command_help()}\n"
    if TrackerRight.browse in sender.claimed:  # no link to what they may not read
        body += f"-- \n{ticket_url(settings, tracker, ticket)}\n"
    _reply(session, settings, tracker, msg, sender.origin, body, purpose="ticket-command-refused")


def _acknowledge(
    session: Session,
    settings: Settings,
    tracker: Tracker,
    ticket: Ticket,
    msg: ParsedMessage,
    sender: Sender,
) -> None:
    """Tell the reporter, and only them, the number their report got and how to add to
    it, as Debian's bug tracker does; threaded under their report. The report's text is
    not sent back, and the link only to someone who may read the tracker."""
    reference = f"{tracker.name}#{ticket.number}"
    address = list_addresses(tracker.name, settings.domain).at(ticket.number)
    lines = [
        "Thank you for your report. This is an automatically generated reply to let you",
        f"know it has been received and filed as ticket {reference}:",
        "",
        f"    {ticket.title}",
    ]
    if TrackerRight.browse in sender.claimed:  # no link to what they may not read
        lines.append(f"    {ticket_url(settings, tracker, ticket)}")
    lines += [
        "",
        f"To add to it, reply to this mail or write to {address}: what you send",
        f"there is a comment on {reference}. You hear by mail when someone comments on",
        "the ticket or changes it; a line '!unsubscribe' in a reply stops that.",
    ]
    _reply(
        session,
        settings,
        tracker,
        msg,
        sender.origin,
        "\n".join(lines) + "\n",
        purpose="ticket-acknowledgement",
        subject=f"{reference}: Acknowledgement ({ticket.title})",
        reply_to_address=address,
    )


def _reply_not_opened(
    session: Session,
    settings: Settings,
    tracker: Tracker,
    msg: ParsedMessage,
    origin: Origin,
    reason: str,
) -> None:
    """A report the sender may not make: it is not kept, and they hear why."""
    posting = list_addresses(tracker.name, settings.domain).posting
    body = (
        f"Your mail to {posting} did not open a ticket, and was not kept:\n\n"
        f"    {reason}\n\nAsk the owners of {tracker.name} if you think you should be able to.\n"
    )
    _reply(session, settings, tracker, msg, origin, body, purpose="ticket-refused")


def _reply(
    session: Session,
    settings: Settings,
    tracker: Tracker,
    msg: ParsedMessage,
    origin: Origin,
    body: str,
    *,
    purpose: str,
    subject: str | None = None,
    reply_to_address: str = "",
) -> None:
    if not origin.address:
        return
    addresses = list_addresses(tracker.name, settings.domain)
    headers = {"List-Id": addresses.list_id_header}
    if reply_to_address:
        headers["Reply-To"] = reply_to_address
    reply_to(
        session,
        msg,
        to=origin.address,
        from_addr=addresses.posting,
        body=body,
        envelope_from=addresses.bounces,
        purpose=purpose,
        domain=addresses.domain,
        subject=subject,
        extra_headers=headers,
    )


def handle_follow_mail(
    session: Session, settings: Settings, msg: ParsedMessage, target: TrackerTarget
) -> None:
    """TRACKER[+N]+subscribe@ and +unsubscribe@ ask for a confirmation by reply, as the
    lists' addresses do; TRACKER[+N]+confirm-*@ complete it."""
    tracker = session.get(Tracker, target.tracker_id)
    if tracker is None:
        return
    ticket = get_ticket(session, tracker.id, target.number) if target.number else None
    if target.number and ticket is None:
        return
    scope = f"ticket:{ticket.id}" if ticket else f"tracker:{tracker.id}"
    what = f"{tracker.name}#{ticket.number}" if ticket else f"every ticket of {tracker.name}"
    sender = msg.from_.addr if msg.from_ else ""
    command = target.command or ""
    kind = RequestKind.unsubscribe if command.endswith("unsubscribe") else RequestKind.subscribe
    if not command.startswith("confirm-"):
        try:  # every answer is a mail to `sender`, who may not have asked: limited
            ratelimit.hit(session, ratelimit.CONFIRMATION_PER_ADDRESS, sender)
        except ratelimit.RateLimited:
            log.info("request to %s from %s over the limit: dropped", target.address(), sender)
            return
    if command.startswith("confirm-"):
        token = find_token(msg)
        pending = take_request(session, scope, kind, token) if token else None
        if pending is None:
            subject, body = unknown_confirmation(target.address(kind.value))
        elif kind is RequestKind.subscribe and not _may_read(session, tracker, pending.address):
            subject, body = _may_not_follow(tracker, what, pending.address)
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
    elif kind is RequestKind.subscribe and not _may_read(session, tracker, sender):
        subject, body = _may_not_follow(tracker, what, sender)
        reply_from = target.address()
    else:
        pending = request_change(session, scope, kind, sender)
        verb = "follow" if kind is RequestKind.subscribe else "stop following"
        subject, body = confirmation_request(pending, f"that {pending.address} {verb} {what}")
        reply_from = target.address(f"confirm-{kind.value}")
    addresses = list_addresses(tracker.name, target.domain)
    reply_to(
        session,
        msg,
        to=sender,
        from_addr=reply_from,
        subject=subject,
        body=body,
        envelope_from=addresses.bounces,
        purpose=f"tracker-{command}"[:32],
        domain=addresses.domain,
        extra_headers={"List-Id": addresses.list_id_header},
    )


def _may_read(session: Session, tracker: Tracker, address: str) -> bool:
    """Following is reading: the confirmation round trip proves the address, so it
    counts as the account that confirmed it."""
    return TrackerRight.browse in tracker_rights(
        session, tracker, actor_for_address(session, address)
    )


def _may_not_follow(tracker: Tracker, what: str, address: str) -> tuple[str, str]:
    return (
        f"Not following {what}",
        f"{address} may not read {tracker.name}, so it cannot follow {what}.\n",
    )
