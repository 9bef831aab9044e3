"""A moderator's answer by mail: a reply to a held post's notice, sent to
NAME+moderate-TOKEN@DOMAIN, carrying a line `!approve` or `!reject REASON`.

Routing finds the held post by its token at RCPT (`find_moderate_target`); at DATA the
reply is handled in intake's transaction (`handle_moderation_reply`), committed before
its `250`. As with every action by mail (DESIGN), the decision counts only when the
From address is authenticated (`accounts.sender_auth`) and may `moderate` the list; with a
PGP signature, which covers the text and not the address the reply went to, the signed
text must also name the token, or a signed `!approve` could be replayed to another
held post. Whatever happens, the sender gets a reply saying so.

Commands are found as ticket commands are (`trackers.commands`): a line of its own
starting with `!`, anywhere in the reply; quoted lines (`>`) never act.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.sender_auth import Proof, mail_sender
from archive.lists import get_list
from archive.models import MailingList
from archive.parse import ParsedMessage
from core.errors import UserError
from core.settings import Settings
from lists.access import ListRight, may
from lists.holding import moderate_address
from lists.models import HeldMessage
from lists.moderation import ModerationRefused, approve_held, find_held, reject_held
from mail.addresses import list_addresses
from mail.compose import reply_to
from mail.policy import ACCEPT, Decision, Reason, check_auto_submitted, check_loop, reject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModerateTarget:
    list_id: int
    name: str
    domain: str
    token: str

    @property
    def address(self) -> str:
        return moderate_address(self.name, self.domain, self.token)


def find_moderate_target(
    session: Session, settings: Settings, match: re.Match[str]
) -> ModerateTarget | None:
    """The held post named by the token, decided or not (a late answer is told who
    decided); None for a token this list never issued, refused as an unknown address."""
    mlist = get_list(session, match.group("name"))
    if mlist is None:
        return None
    token = match.group("token")
    found = session.scalar(
        select(HeldMessage.id).where(HeldMessage.token == token, HeldMessage.list_id == mlist.id)
    )
    if found is None:
        return None
    return ModerateTarget(mlist.id, mlist.name, settings.domain.lower(), token)


def judge_moderation_reply(msg: ParsedMessage, target: ModerateTarget) -> Decision:
    """Robots and loops are dropped; a reply needs a From to be answered."""
    list_id = list_addresses(target.name, target.domain).list_id
    for decision in (check_auto_submitted(msg), check_loop(msg, list_id)):
        if not decision.accepted:
            return decision
    if not (msg.from_ and msg.from_.addr):
        return reject(Reason.MISSING_HEADER, "a moderator's answer needs a From address")
    return ACCEPT


# -- the commands ----------------------------------------------------------------------


class Action(enum.Enum):
    approve = "approve"
    reject = "reject"


@dataclass(frozen=True)
class ModerationCommand:
    action: Action
    reason: str  # for !reject, told to the author
    line: str  # as written, for the reply


class CommandError(UserError):
    """The reply holds no usable command; the message says why, for the sender."""


_COMMAND_LINE = re.compile(r"^!([A-Za-z][A-Za-z_-]*)(.*)$")
_ACTIONS = frozenset(a.value for a in Action)


def find_command(text: str) -> ModerationCommand:
    """The `!approve` or `!reject REASON` line of a reply (see the module docstring).
    Other `!word` lines are ignored beside a command (a reply is prose too); CommandError
    when there is no command, or both."""
    found: list[ModerationCommand] = []
    unknown: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        match = _COMMAND_LINE.match(line)
        if match is None:
            continue
        word, rest = match.group(1).lower(), match.group(2).strip()
        if word not in _ACTIONS:
            unknown.append(line)
        elif word == Action.approve.value and rest:
            unknown.append(line)  # "!approve?" or "!approve later": not a clear yes
        elif word == Action.reject.value and not rest:
            raise CommandError("!reject needs a reason after it: the author is told it")
        else:
            found.append(ModerationCommand(Action(word), rest, line))
    if not found:
        seen = f" (not a command: {', '.join(repr(u) for u in unknown)})" if unknown else ""
        raise CommandError(
            f"no command found{seen}: write !approve, or !reject REASON, on a line of its own"
        )
    if len({c.action for c in found}) > 1:
        raise CommandError("both !approve and !reject were found: send only one")
    return found[0]


# -- handling --------------------------------------------------------------------------


def handle_moderation_reply(
    session: Session, settings: Settings, msg: ParsedMessage, raw: bytes, target: ModerateTarget
) -> None:
    """Apply the decision in the reply, or refuse it; answer the sender either way. The
    caller commits."""
    held = find_held(session, target.token)
    mlist = session.get(MailingList, target.list_id)
    if held is None or mlist is None:  # deleted since RCPT
        return
    sender = msg.from_.addr if msg.from_ else ""
    try:
        command = _authorized_command(session, mlist, held, msg, raw, sender)
        if command.action is Action.approve:
            approve_held(session, settings, held, by=sender)
            text = "Approved: the post is archived and sent to the list's subscribers.\n"
        else:
            reject_held(session, settings, held, by=sender, reason=command.reason)
            text = "Rejected: the author is told the reason you gave.\n"
        status = held.status.value
    except (ModerationRefused, CommandError) as refused:
        text, status = f"Nothing was changed: {refused}.\n", "unchanged"
        log.info("moderation answer from %s for <%s>: %s", sender, held.message_id, refused)
    _answer(session, target, held, msg, sender, text, status)


def _authorized_command(
    session: Session,
    mlist: MailingList,
    held: HeldMessage,
    msg: ParsedMessage,
    raw: bytes,
    sender: str,
) -> ModerationCommand:
    """The reply's command, when its sender is authenticated and may moderate; else
    ModerationRefused (or CommandError) saying why. Held status is checked last, by the decision
    itself, so that nobody else learns what became of a post."""
    command = find_command(msg.body)
    proven = mail_sender(session, sender, raw)
    if not proven.authenticated:
        raise ModerationRefused(
            f"{sender} is not authenticated: a moderator's answer needs a DKIM signature"
            " that passes and is aligned with the From domain, or a PGP signature by a key"
            " registered for that address"
        )
    if proven.how is Proof.pgp and held.token not in msg.body:
        raise ModerationRefused(
            "a PGP signature does not cover the address this answer was sent to: keep the"
            f" line 'Held post: {held.token}' of the notice in the signed text"
        )
    if not may(session, mlist, proven.actor, ListRight.moderate):
        raise ModerationRefused(f"{sender} may not moderate {mlist.name}")
    return command


def _answer(
    session: Session,
    target: ModerateTarget,
    held: HeldMessage,
    msg: ParsedMessage,
    to: str,
    text: str,
    status: str,
) -> None:
    """Tell the sender what their answer did, from the address they wrote to (so that
    replying again tries again)."""
    body = (
        f"{text}\n"
        f"  List:       {list_addresses(target.name, target.domain).posting}\n"
        f"  Subject:    {held.subject or '(no subject)'}\n"
        f"  Message-ID: <{held.message_id}>\n"
    )
    reply_to(
        session,
        msg,
        to=to,
        from_addr=target.address,
        body=body,
        envelope_from=list_addresses(target.name, target.domain).bounces,
        purpose=f"moderation-{status}",
        domain=target.domain,
    )
