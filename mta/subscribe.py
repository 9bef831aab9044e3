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

from archive.lists import get_list
from archive.parse import ParsedMessage
from mailyard.settings import Settings
from mta.models import RequestKind
from mta.outbox import AUTO_REPLIED, after_commit_enqueue, build_message, queue_mail
from mta.policy import ACCEPT, Decision, Reason, check_auto_submitted, check_loop, reject
from mta.subscriptions import (
    REQUEST_LIFETIME,
    SubscriptionError,
    find_subscription,
    request_change,
    subscribe,
    take_request,
    unsubscribe,
)

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

TOKEN = re.compile(r"\b([0-9a-f]{32})\b")


@dataclass(frozen=True)
class CommandTarget:
    list_id: int
    name: str
    domain: str
    command: Command

    def address(self, command: Command | str = "") -> str:
        suffix = command.value if isinstance(command, Command) else command
        return f"{self.name}+{suffix}@{self.domain}" if suffix else f"{self.name}@{self.domain}"


def find_command_target(
    session: Session, settings: Settings, match: re.Match[str]
) -> CommandTarget | Decision | None:
    """NAME+COMMAND: the command, a refusal naming the valid ones, or None (no such list)."""
    mlist = get_list(session, match.group("name"))
    if mlist is None:
        return None
    domain = settings.domain.lower()
    try:
        command = Command(match.group("command"))
    except ValueError:
        valid = ", ".join(f"{mlist.name}+{c.value}@{domain}" for c in COMMAND_HELP)
        return reject(
            Reason.UNKNOWN_RECIPIENT,
            f"<{match.group(0)}@{domain}>: no such address; this list answers at {valid}",
        )
    return CommandTarget(mlist.id, mlist.name, domain, command)


def judge_command(msg: ParsedMessage, target: CommandTarget) -> Decision:
    """Robots and our own list mail never get an answer (no mail loops); a person needs a
    From to be answered."""
    for decision in (check_auto_submitted(msg), check_loop(msg, f"{target.name}.{target.domain}")):
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
        reply = _ANSWERS[target.command](session, settings, msg, target, sender)
    except SubscriptionError as e:
        reply = ("Your request could not be done", f"{e}\n")
    subject, body = reply
    _answer(session, target, msg, sender, subject, body, reply_from=_REPLY_FROM[target.command])


def _subscribe_request(session, settings, msg, target, sender) -> tuple[str, str]:
    if find_subscription(session, target.list_id, sender) is not None:
        return (
            f"You are already subscribed to {target.name}",
            f"{sender} is already subscribed to {target.address()}.\n"
            f"To unsubscribe, write to {target.address(Command.unsubscribe)}.\n",
        )
    pending = request_change(session, target.list_id, RequestKind.subscribe, sender)
    return (
        f"confirm {pending.token}",
        f"Someone, hopefully you, asked to subscribe {pending.address} to the list\n"
        f"{target.address()}.\n\n"
        "To confirm, reply to this message; keep the Subject as it is.\n\n"
        f"If you did not ask, ignore this message: the request expires in"
        f" {REQUEST_LIFETIME.days} days.\n",
    )


def _unsubscribe_request(session, settings, msg, target, sender) -> tuple[str, str]:
    if find_subscription(session, target.list_id, sender) is None:
        return (
            f"You are not subscribed to {target.name}",
            f"{sender} is not subscribed to {target.address()}, so there is nothing to do.\n"
            "If you receive the list at another address, write from that one.\n",
        )
    pending = request_change(session, target.list_id, RequestKind.unsubscribe, sender)
    return (
        f"confirm {pending.token}",
        f"Someone, hopefully you, asked to unsubscribe {pending.address} from the list\n"
        f"{target.address()}.\n\n"
        "To confirm, reply to this message; keep the Subject as it is.\n\n"
        f"If you did not ask, ignore this message: the request expires in"
        f" {REQUEST_LIFETIME.days} days.\n",
    )


def _confirm(kind: RequestKind):
    def confirm(session, settings, msg, target, sender) -> tuple[str, str]:
        token = _find_token(msg)
        pending = take_request(session, target.list_id, kind, token) if token else None
        if pending is None:
            return (
                "Unknown or expired confirmation",
                "This confirmation is unknown or has expired, or was used already.\n"
                f"To start again, write to {target.address(kind.value)}.\n",
            )
        if kind is RequestKind.subscribe:
            subscribe(session, target.list_id, pending.address)
            return (f"Welcome to {target.name}", _welcome(settings, target, pending.address))
        unsubscribe(session, target.list_id, pending.address)
        return (
            f"You have left {target.name}",
            f"{pending.address} is no longer subscribed to {target.address()}.\n"
            f"To come back, write to {target.address(Command.subscribe)}.\n",
        )

    return confirm


def _help(session, settings, msg, target, sender) -> tuple[str, str]:
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
    Command.subscribe: _subscribe_request,
    Command.unsubscribe: _unsubscribe_request,
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


def _find_token(msg: ParsedMessage) -> str | None:
    """The token of a confirmation reply: in the Subject, else the first in the body (some
    clients rewrite subjects)."""
    for text in (msg.subject.lower(), msg.body.lower()):
        found = TOKEN.search(text)
        if found:
            return found.group(1)
    return None


def _answer(
    session: Session,
    target: CommandTarget,
    msg: ParsedMessage,
    to: str,
    subject: str,
    body: str,
    *,
    reply_from: Command,
) -> None:
    raw = build_message(
        from_addr=target.address(reply_from),
        to_addrs=[to],
        subject=subject,
        body=body,
        in_reply_to=msg.message_id,
        references=msg.references,
        extra_headers=AUTO_REPLIED,
        domain=target.domain,
    )
    row = queue_mail(
        session,
        envelope_from=target.address("bounces"),
        recipients=[to],
        raw=raw,
        purpose=f"list-{target.command.value}",
    )
    after_commit_enqueue(session, row)


def _forward_to_owner(session: Session, target: CommandTarget, raw: bytes) -> None:
    mlist = get_list(session, target.name)
    if mlist is None:
        return
    row = queue_mail(
        session,
        envelope_from=target.address("bounces"),
        recipients=[mlist.owner_email],
        raw=raw,
        purpose="list-owner",
    )
    after_commit_enqueue(session, row)
