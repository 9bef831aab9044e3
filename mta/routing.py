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

from mailyard.settings import Settings
from mta import bounces, post, subscribe
from mta.policy import Decision, Reason, reject
from trackers import mail as tracker_mail


class RouteKind(enum.Enum):
    POST = "post"  # a message to a list: archived on it, sent to its subscribers
    COMMAND = "command"  # NAME+subscribe@ and the other command addresses
    BOUNCE = "bounce"  # NAME+bounces@, and NAME+bounces=USER=HOST@ (VERP)
    TRACKER = "tracker"  # TRACKER@ opens a ticket, TRACKER+N@ comments; [+N]+subscribe@...


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    address: str  # as the client gave it in RCPT TO
    target: object  # what the resolver found: `post.ListTarget`, `subscribe.CommandTarget`...


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


def route(session: Session, settings: Settings, address: str) -> Route | Decision:
    """Where mail for `address` goes, or the refusal to give at RCPT time."""
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
        target = rule.resolve(session, settings, match)
        if isinstance(target, Decision):
            return target
        if target is not None:
            return Route(rule.kind, address, target)
    return reject(
        Reason.UNKNOWN_RECIPIENT,
        f"<{address}>: no such list here (lists are at NAME@{settings.domain})",
    )
