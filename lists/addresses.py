"""The addresses a list answers at, each kind declared once (`mail.address_kinds`).

    NAME+bounces@, NAME+bounces=USER=HOST@   bounces of its mail (VERP)   `lists.bounces`
    NAME+moderate-TOKEN@                     a moderator's answer         `lists.moderation_mail`
    NAME+COMMAND@                            subscribe, help, owner...    `lists.commands`
    NAME@                                    a post                       `lists.posting`

`mailyard/wiring.py` lists them in this order, before the trackers' (a name that is no
list falls through to them). A private list does not exist for a sender who may not see
it: its posting, command and moderation addresses are refused to them as unknown
addresses, at RCPT, before anything is taken (`screen_strangers`); bounces come from mail
servers, with the null sender, and must reach every list.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from archive.lists import get_list
from archive.parse import ParsedMessage
from core.settings import Settings
from lists.bounces import find_bounce_target, handle_bounce, judge_bounce
from lists.commands import find_command_target, handle_command, judge_command
from lists.moderation_mail import (
    find_moderate_target,
    handle_moderation_reply,
    judge_moderation_reply,
)
from lists.post_rights import Standing, judge_rights, sender_standing
from lists.posting import ListTarget, find_list_target, judge_post
from lists.store import prepare_post, store_posts
from mail.address_kinds import AddressKind, Stored
from mail.policy import Decision, Reason, reject, unknown_address

# A list's name; '+' never matches, it is for sub-addresses (`lists.manage.LIST_NAME`).
NAME = r"(?P<name>[a-z0-9][a-z0-9._-]{0,63})"


def _standing(session: Session, match: re.Match[str], sender: str) -> Standing | None:
    """The sender's standing on the list the address names, or None when there is none."""
    mlist = get_list(session, match.group("name"))
    return sender_standing(session, mlist, sender) if mlist is not None else None


def screen_strangers(
    session: Session, settings: Settings, address: str, match: re.Match[str], sender: str
) -> Decision | None:
    """A private list's address is unknown to a sender who may not see the list."""
    if _standing(session, match, sender) is Standing.stranger:
        return unknown_address(settings.domain, address)
    return None


def screen_posters(
    session: Session, settings: Settings, address: str, match: re.Match[str], sender: str
) -> Decision | None:
    """As `screen_strangers`, and a sender who may only read the list is refused at RCPT."""
    standing = _standing(session, match, sender)
    if standing is Standing.stranger:
        return unknown_address(settings.domain, address)
    if standing is Standing.reader:
        return reject(
            Reason.NOT_ALLOWED,
            f"<{address}>: {sender or 'the null sender'} may not post to this list",
        )
    return None


def judge_post_rights(
    session: Session, settings: Settings, msg: ParsedMessage, raw: bytes, target: ListTarget
) -> Decision:
    return judge_rights(session, target.list_id, target.posting_address, msg, raw)


BOUNCES = AddressKind(
    "list-bounces",
    re.compile(NAME + r"\+bounces(?P<verp>=.+)?"),
    find_target=find_bounce_target,
    judge=judge_bounce,
    handle=handle_bounce,
)
MODERATE = AddressKind(
    "list-moderate",
    re.compile(NAME + r"\+moderate-(?P<token>[0-9a-f]{32})"),
    find_target=find_moderate_target,
    judge=judge_moderation_reply,
    screen=screen_strangers,
    handle=handle_moderation_reply,
)
COMMAND = AddressKind(
    "list-command",
    re.compile(NAME + r"\+(?P<command>.*)"),
    find_target=find_command_target,
    judge=judge_command,
    screen=screen_strangers,
    handle=handle_command,
)
POST = AddressKind(
    "list-post",
    re.compile(NAME),
    find_target=find_list_target,
    judge=judge_post,
    screen=screen_posters,
    judge_rights=judge_post_rights,
    stored=Stored(prepare=prepare_post, store=store_posts),
)

ADDRESS_KINDS = (BOUNCES, MODERATE, COMMAND, POST)
