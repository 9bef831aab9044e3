"""The one table from a recipient address to what intake does with it.

Each rule matches the local part of an address at `settings.domain` (lower-cased, so
addresses are case-insensitive) and names a resolver in the module for that kind of
address. Rules are tried in order; the first resolver that returns something wins. To
understand a new kind of address (`NAME+subscribe@`, `TRACKER@`, `TRACKER+N@`), add a
module with its resolver and a rule here, before any rule that would also match it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from archive.lists import get_list
from mailyard.settings import Settings
from mta import bounces, moderation_mail, post, subscribe
from mta.policy import Decision, Reason, reject
from mta.post_rights import Standing, sender_standing
from trackers import mail as tracker_mail


class RouteKind(enum.Enum):
    POST = "post"  # a message to a list: archived on it, sent to its subscribers
    COMMAND = "command"  # NAME+subscribe@ and the other command addresses
    BOUNCE = "bounce"  # NAME+bounces@, and NAME+bounces=USER=HOST@ (VERP)
    TRACKER = "tracker"  # TRACKER@ opens a ticket, TRACKER+N@ comments; [+N]+subscribe@...
    MODERATE = "moderate"  # NAME+moderate-TOKEN@: a moderator's answer to a held post


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    address: str  # as the client gave it in RCPT TO
    target: object  # what the resolver found: `post.ListTarget`, `subscribe.CommandTarget`...


# The addresses of a list that its strangers are not told about (bounces come from
# mail servers, with the null sender, and must reach every list).
HIDDEN_FROM_STRANGERS = frozenset({RouteKind.POST, RouteKind.COMMAND, RouteKind.MODERATE})


# A resolver gets the rule's match on the local part; it returns its target, a refusal
# with a reason of its own (a closed list, say), or None to let later rules try.
Resolver = Callable[[Session, Settings, re.Match[str]], object | Decision | None]


@dataclass(frozen=True)
class Rule:
    kind: RouteKind
    pattern: re.Pattern[str]  # full match on the lower-cased local part
    resolve: Resolver


# Same alphabet as archive.lists.LIST_NAME; '+' never matches, it is for sub-addresses.
_NAME = r"(?P<name>[a-z0-9][a-z0-9._-]{0,63})"

ROUTES: list[Rule] = [
    Rule(
        RouteKind.BOUNCE, re.compile(_NAME + r"\+bounces(?P<verp>=.+)?"), bounces.find_bounce_target
    ),
    Rule(
        RouteKind.MODERATE,
        re.compile(_NAME + r"\+moderate-(?P<token>[0-9a-f]{32})"),
        moderation_mail.find_moderate_target,
    ),
    Rule(
        RouteKind.COMMAND, re.compile(_NAME + r"\+(?P<command>.*)"), subscribe.find_command_target
    ),
    Rule(RouteKind.POST, re.compile(_NAME), post.find_list_target),
    # Lists and trackers share names' address space: a list's rules answer None for a
    # name that is not a list, and these then try it as a tracker.
    Rule(
        RouteKind.TRACKER,
        re.compile(
            _NAME
            + r"(?:\+(?P<number>[0-9]{1,9}))?"
            + r"(?:\+(?P<command>subscribe|unsubscribe|confirm-subscribe|confirm-unsubscribe))?"
        ),
        tracker_mail.find_tracker_target,
    ),
]


def split_address(address: str) -> tuple[str, str]:
    """('local', 'domain') lower-cased; the domain is '' when there is no '@'."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    if not local:
        return domain.lower(), ""
    return local.lower(), domain.lower().rstrip(".")


def route(
    session: Session, settings: Settings, address: str, sender: str | None = None
) -> Route | Decision:
    """Where mail for `address` goes, or the refusal to give at RCPT time. With the
    envelope `sender` ('' for the null sender), a list's addresses are refused to those
    who can do nothing with them (see the module docstring); None skips that check."""
    local, domain = split_address(address)
    if domain != settings.domain.lower():
        return reject(
            Reason.UNKNOWN_RECIPIENT,
            f"<{address}>: no such list here (this server takes mail for @{settings.domain})",
        )
    for rule in ROUTES:
        match = rule.pattern.fullmatch(local)
        if match is None:
            continue
        standing = None
        if sender is not None and rule.kind in HIDDEN_FROM_STRANGERS:
            standing = _standing(session, match.group("name"), sender)
            if standing is Standing.stranger:
                return unknown_address(settings, address)
        target = rule.resolve(session, settings, match)
        if isinstance(target, Decision):
            return target
        if target is None:
            continue
        if rule.kind is RouteKind.POST and standing is Standing.reader:
            return reject(
                Reason.NOT_ALLOWED,
                f"<{address}>: {sender or 'the null sender'} may not post to this list",
            )
        return Route(rule.kind, address, target)
    return unknown_address(settings, address)


def unknown_address(settings: Settings, address: str) -> Decision:
    """The refusal of an address that is nothing here (or nothing the sender may know)."""
    return reject(
        Reason.UNKNOWN_RECIPIENT,
        f"<{address}>: no such list here (lists are at NAME@{settings.domain})",
    )


def _standing(session: Session, name: str, sender: str) -> Standing | None:
    """The sender's standing on the list `name`, or None when no list has that name."""
    mlist = get_list(session, name)
    return sender_standing(session, mlist, sender) if mlist is not None else None
