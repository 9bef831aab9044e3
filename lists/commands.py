"""The command addresses of a list: NAME+subscribe@, +unsubscribe@, their confirmations,
+help@ and +owner@.

A request gets a confirmation mail from NAME+confirm-subscribe@ (or -unsubscribe) whose
Subject holds a token; a reply to it, with any `Re:` prefix, confirms. The reply proves
the requester reads that mailbox, so nobody can subscribe someone else. Every answer is
queued in the outbox in the transaction that changed the membership.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from accounts import ratelimit
from accounts.access import readers_among
from archive.lists import get_list
from archive.models import MailingList
from archive.parse import ParsedMessage
from core.settings import Settings
from lists.access import list_resource, list_scope
from lists.membership import (
    SubscriptionError,
    find_subscription,
    normalize_address,
    subscribe,
    unsubscribe,
)
from mail.addresses import AddressRefused, list_addresses
from mail.compose import reply_to
from mail.confirmation import (
    confirmation_request,
    find_token,
    request_change,
    take_request,
    unknown_confirmation,
)
from mail.models import RequestKind
from mail.outbox import send_on_commit
from mail.policy import ACCEPT, Decision, Reason, check_auto_submitted, check_loop, reject

log = logging.getLogger(__name__)


class Command(enum.Enum):
    subscribe = "subscribe"
    unsubscribe = "unsubscribe"
    confirm_subscribe = "confirm-subscribe"
    confirm_unsubscribe = "confirm-unsubscribe"
    help = "help"
    owner = "owner"


# What +help and a refused +suffix say each address does.
COMMAND_HELP = {
    Command.subscribe: "subscribe (you will be asked to confirm by replying)",
    Command.unsubscribe: "unsubscribe (you will be asked to confirm by replying)",
    Command.help: "this help",
    Command.owner: "write to the list owner",
}


@dataclass(frozen=True)
class CommandTarget:
    list_id: int
    name: str
    domain: str
    command: Command

    def address(self, command: Command | str = "") -> str:
        """NAME+COMMAND@DOMAIN; the posting address without a command."""
        suffix = command.value if isinstance(command, Command) else command
        return list_addresses(self.name, self.domain).at(suffix)


def find_command_target(
    session: Session, settings: Settings, match: re.Match[str]
) -> CommandTarget | Decision | None:
    """NAME+COMMAND: the command, a refusal naming the valid ones, or None (no such list)."""
    mlist = get_list(session, match.group("name"))
    if mlist is None:
        return None
    addresses = list_addresses(mlist.name, settings.domain)
    try:
        command = Command(match.group("command"))
    except ValueError:
        valid = ", ".join(addresses.at(c.value) for c in COMMAND_HELP)
        return reject(
            Reason.UNKNOWN_RECIPIENT,
            f"<{match.group(0)}@{addresses.domain}>: no such address; this list answers at {valid}",
        )
    return CommandTarget(mlist.id, mlist.name, addresses.domain, command)


def judge_command(msg: ParsedMessage, target: CommandTarget) -> Decision:
    """Robots and our own list mail never get an answer (no mail loops); a person needs a
    From to be answered."""
    list_id = list_addresses(target.name, target.domain).list_id
    for decision in (check_auto_submitted(msg), check_loop(msg, list_id)):
        if not decision.accepted:
            return decision
    if target.command is not Command.owner and not (msg.from_ and msg.from_.addr):
        return reject(Reason.MISSING_HEADER, "a request needs a From address to answer")
    return ACCEPT


def handle_command(
    session: Session, settings: Settings, msg: ParsedMessage, raw: bytes, target: CommandTarget
) -> None:
    """Do what the mail to a command address asks; the caller commits."""
    if target.command is Command.owner:
        _forward_to_owner(session, target, raw)
        return
    sender = msg.from_.addr if msg.from_ else ""
    try:
        subject, body = _ANSWERS[target.command](session, settings, target, sender, msg)
    except (SubscriptionError, AddressRefused) as e:
        subject, body = "Your request could not be done", f"{e}\n"
    except ratelimit.RateLimited:
        # Answering would be the flood the limit is there to stop.
        log.info("request to %s from %s over the limit: dropped", target.address(), sender)
        return
    _answer(session, target, sender, subject, body, msg)


def request_by_web(
    session: Session, settings: Settings, mlist: MailingList, address: str, kind: RequestKind
) -> None:
    """A subscribe or unsubscribe request from the web form: the same confirmation mail
    as NAME+subscribe@ sends, so only the mailbox's owner can complete it. The caller
    commits; SubscriptionError for an invalid address."""
    address = normalize_address(address)
    target = CommandTarget(mlist.id, mlist.name, settings.domain.lower(), Command(kind.value))
    subject, body = _ANSWERS[target.command](session, settings, target, address, None)
    _answer(session, target, address, subject, body, None)


def confirm_by_web(
    session: Session, settings: Settings, mlist: MailingList, token: str
) -> tuple[RequestKind, str] | None:
    """Complete the pending request with this token, as a reply to its mail would; the
    kind and address it was for, or None when the token is unknown or expired."""
    for kind in RequestKind:
        target = CommandTarget(
            mlist.id, mlist.name, settings.domain.lower(), Command(f"confirm-{kind.value}")
        )
        done = _complete(session, settings, target, kind, token)
        if done is not None:
            address, subject, body = done
            _answer(session, target, address, subject, body, None)
            return kind, address
    return None


def _change_request(kind: RequestKind):
    """The answer to NAME+subscribe@ or NAME+unsubscribe@: a confirmation request."""
    verb = "subscribe" if kind is RequestKind.subscribe else "unsubscribe"

    def ask(session, settings, target, sender, msg) -> tuple[str, str]:
        # every answer here is a mail to `sender`, who may not have asked: limited
        ratelimit.hit(session, ratelimit.CONFIRMATION_PER_ADDRESS, sender)
        subscribed = find_subscription(session, target.list_id, sender) is not None
        if kind is RequestKind.subscribe and subscribed:
            return (
                f"You are already subscribed to {target.name}",
                f"{sender} is already subscribed to {target.address()}.\n"
                f"To unsubscribe, write to {target.address(Command.unsubscribe)}.\n",
            )
        if kind is RequestKind.unsubscribe and not subscribed:
            return (
                f"You are not subscribed to {target.name}",
                f"{sender} is not subscribed to {target.address()}, so there is nothing to do.\n"
                "If you receive the list at another address, write from that one.\n",
            )
        if kind is RequestKind.subscribe and not _may_read(session, target.list_id, sender):
            return (
                f"You may not subscribe to {target.name}",
                f"{sender} may not read {target.address()}, so it cannot receive its posts."
                "\nAsk the list's owner for access.\n",
            )
        pending = request_change(session, list_scope(target.list_id), kind, sender)
        link = f"{settings.base_url.rstrip('/')}/{target.name}/confirm/{pending.token}"
        what = f"{'to' if kind is RequestKind.subscribe else 'from'} the list {target.address()}"
        return confirmation_request(pending, f"to {verb} {pending.address}\n{what}", link)

    return ask


def _may_read(session: Session, list_id: int, address: str) -> bool:
    """Whether a subscriber at `address` would get the list's posts (`lists.fanout` sends
    them only to its readers). Confirming proves the mailbox, so the account that
    confirmed the address counts."""
    mlist = session.get(MailingList, list_id)
    return mlist is not None and bool(readers_among(session, list_resource(mlist), [address]))


def _confirm(kind: RequestKind):
    """The answer to a reply to a confirmation request."""

    def confirm(session, settings, target, sender, msg) -> tuple[str, str]:
        token = find_token(msg) if msg is not None else None
        done = _complete(session, settings, target, kind, token) if token else None
        if done is None:
            return unknown_confirmation(target.address(kind.value))
        return done[1], done[2]

    return confirm


def _complete(
    session: Session, settings: Settings, target: CommandTarget, kind: RequestKind, token: str
) -> tuple[str, str, str] | None:
    """Apply the pending request with this token: (address, subject, body of the notice),
    or None when there is no such valid request."""
    pending = take_request(session, list_scope(target.list_id), kind, token)
    if pending is None:
        return None
    if kind is RequestKind.subscribe:
        subscribe(session, target.list_id, pending.address)
        return (
            pending.address,
            f"Welcome to {target.name}",
            _welcome(settings, target, pending.address),
        )
    unsubscribe(session, target.list_id, pending.address)
    return (
        pending.address,
        f"You have left {target.name}",
        f"{pending.address} is no longer subscribed to {target.address()}.\n"
        f"To come back, write to {target.address(Command.subscribe)}.\n",
    )


def _help(session, settings, target, sender, msg) -> tuple[str, str]:
    return (f"Help for {target.name}", help_text(settings, target))


def help_text(settings: Settings, target: CommandTarget) -> str:
    lines = [f"The list {target.address()} answers at these addresses:", ""]
    lines += [f"  {target.address(c)}\n      {what}" for c, what in COMMAND_HELP.items()]
    lines += [
        "",
        f"Post by writing to {target.address()}.",
        f"The archive is at {settings.base_url.rstrip('/')}/{target.name}/",
    ]
    return "\n".join(lines) + "\n"


def _welcome(settings: Settings, target: CommandTarget, address: str) -> str:
    return (
        f"{address} is now subscribed to {target.address()}.\n\n"
        f"Post by writing to {target.address()}.\n"
        f"To unsubscribe, write to {target.address(Command.unsubscribe)}.\n"
        f"The archive is at {settings.base_url.rstrip('/')}/{target.name}/\n"
    )


_ANSWERS = {
    Command.subscribe: _change_request(RequestKind.subscribe),
    Command.unsubscribe: _change_request(RequestKind.unsubscribe),
    Command.confirm_subscribe: _confirm(RequestKind.subscribe),
    Command.confirm_unsubscribe: _confirm(RequestKind.unsubscribe),
    Command.help: _help,
}

# The address each answer comes from: replying to a confirmation request confirms it.
_REPLY_FROM = {
    Command.subscribe: Command.confirm_subscribe,
    Command.unsubscribe: Command.confirm_unsubscribe,
    Command.confirm_subscribe: Command.help,
    Command.confirm_unsubscribe: Command.help,
    Command.help: Command.help,
}


def _answer(
    session: Session,
    target: CommandTarget,
    to: str,
    subject: str,
    body: str,
    msg: ParsedMessage | None,
) -> None:
    """Queue the answer to `to`, in reply to `msg` when it came by mail."""
    reply_to(
        session,
        msg,
        to=to,
        from_addr=target.address(_REPLY_FROM[target.command]),
        subject=subject,
        body=body,
        envelope_from=target.address("bounces"),
        purpose=f"list-{target.command.value}",
        domain=target.domain,
    )


def _forward_to_owner(session: Session, target: CommandTarget, raw: bytes) -> None:
    mlist = get_list(session, target.name)
    if mlist is None:
        return
    send_on_commit(
        session,
        envelope_from=target.address("bounces"),
        recipients=[mlist.owner_email],
        raw=raw,
        purpose="list-owner",
    )
