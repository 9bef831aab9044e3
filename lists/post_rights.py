"""Who may post to a list by mail, and whose posts wait for a moderator.

The web and the mail path share one access rule (`lists.access`): `post` lets someone
start threads, `reply` only lets them answer a thread the list already has (as
SourceHut's lists do), `moderate` lets them decide on held posts, and their posts are
never held. Whose posts are held is the list's `moderation`: nobody's, those of senders
without an active subscription, or everyone's.

`decide_post` is that rule with nothing around it (no database), so it can be read and
tested alone. `judge_rights` gathers its inputs for one message at DATA; at RCPT, before
the headers exist, `sender_standing` says what the envelope sender may do, so that routing
can refuse a sender who can do nothing at all without taking the message first.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.access import Actor, Visibility, actor_for_address, bare_actor
from accounts.sender_auth import mail_sender
from archive.models import MailingList
from archive.parse import ParsedMessage
from archive.queries import list_has_any_message
from lists.access import ListRight, list_rights
from lists.models import Subscription, SubscriptionStatus
from mail.policy import ACCEPT, Decision, Reason, hold, reject


class Moderation(enum.Enum):
    """`MailingList.moderation`: whose posts wait for a moderator."""

    none = "none"
    unsubscribed = "unsubscribed"  # senders without an active subscription
    all = "all"  # everyone but the moderators


class Verdict(enum.Enum):
    accept = "accept"
    hold = "hold"
    refuse = "refuse"


@dataclass(frozen=True)
class PostDecision:
    verdict: Verdict
    reason: str = ""  # for the sender (a refusal) or the moderators (a hold)


# The reasons, worded to follow "Not posted to LIST: " or "Held for moderation: ".
REPLY_ONLY = (
    "you may only reply to threads already on this list; starting a new thread needs"
    " the 'post' right"
)
NO_POSTING = (
    "you may not post to this list; that needs the 'post' right, or 'reply' to answer"
    " a thread already on it"
)
NOT_SUBSCRIBED = "the sender is not subscribed to this list"
ALL_MODERATED = "every post to this list waits for a moderator"


def parse_moderation(value: str) -> Moderation:
    """The list's setting; an unknown value holds everything rather than nothing."""
    try:
        return Moderation(value)
    except ValueError:
        return Moderation.all


def decide_post(
    rights: Iterable[str],
    *,
    is_reply: bool,
    is_subscribed: bool,
    is_moderator: bool,
    moderation: Moderation,
) -> PostDecision:
    """Accept, hold or refuse one post, from what its sender may do on the list.

    `is_reply`: the post's In-Reply-To or References name a message archived on the list.
    Rights are checked before moderation: a sender who may not post is refused, not held,
    so that moderators only ever see posts they are allowed to let through.
    """
    rights = frozenset(rights)
    post, reply = ListRight.post in rights, ListRight.reply in rights
    if not post and not (reply and is_reply):
        return PostDecision(Verdict.refuse, REPLY_ONLY if reply else NO_POSTING)
    if is_moderator:
        return PostDecision(Verdict.accept)
    if moderation is Moderation.all:
        return PostDecision(Verdict.hold, ALL_MODERATED)
    if moderation is Moderation.unsubscribed and not is_subscribed:
        return PostDecision(Verdict.hold, NOT_SUBSCRIBED)
    return PostDecision(Verdict.accept)


def judge_rights(
    session: Session, list_id: int, list_address: str, msg: ParsedMessage, raw: bytes
) -> Decision:
    """`decide_post` for a message at DATA, as an intake decision; the caller has checked
    that there is a From address (`mail.policy.check_required_headers`).

    The From address counts first as the bare address (the defaults, entries naming it,
    its subscription; never the owner). Only when the account that confirmed it, or the
    address as a proven mailbox, would fare better is the mail asked to prove it
    (`accounts.sender_auth`: DKIM, or a PGP signature), as every action by mail must: a
    forged From does not bring anyone's account, or the owner's rights, along.
    """
    mlist = session.get(MailingList, list_id)
    if mlist is None:  # deleted between RCPT and DATA
        return reject(Reason.UNKNOWN_RECIPIENT, f"<{list_address}>: no such list here")
    sender = msg.from_.addr if msg.from_ else ""
    # a post names at most a few hundred ancestors; more is junk
    is_reply = list_has_any_message(session, list_id, [*msg.in_reply_to, *msg.references][:200])

    def decide(actor: Actor) -> PostDecision:
        rights = list_rights(session, mlist, actor)
        return decide_post(
            rights,
            is_reply=is_reply,
            is_subscribed=is_subscribed(session, list_id, actor),
            is_moderator=ListRight.moderate in rights,
            moderation=parse_moderation(mlist.moderation),
        )

    decision = decide(bare_actor(sender))
    unproven = ""
    if decision.verdict is not Verdict.accept:
        # the account behind the address, or the address as a proven mailbox (an owner
        # address needs no account)
        claimed = actor_for_address(session, sender)
        as_claimed = decide(claimed)
        if _better(as_claimed, decision):
            if mail_sender(session, sender, raw, proven_by=msg.from_proven_by).authenticated:
                decision = as_claimed
            else:
                who = f", so it does not count as ~{claimed.username}" if claimed.username else ""
                unproven = f" (the mail is not authenticated{who}: {NEEDS_AUTHENTICATION})"
    if decision.verdict is Verdict.refuse:
        return reject(
            Reason.NOT_ALLOWED, f"Not posted to {list_address}: {decision.reason}{unproven}"
        )
    if decision.verdict is Verdict.hold:
        return hold(decision.reason + unproven)
    return ACCEPT


NEEDS_AUTHENTICATION = (
    "a DKIM signature that passes and is aligned with the From domain, or a PGP signature"
    " by a key registered for the address"
)
_RANK = {Verdict.refuse: 0, Verdict.hold: 1, Verdict.accept: 2}


def _better(one: PostDecision, other: PostDecision) -> bool:
    return _RANK[one.verdict] > _RANK[other.verdict]


def is_subscribed(session: Session, list_id: int, actor: Actor) -> bool:
    """An active subscription for any of the actor's addresses (a user subscribed at one
    confirmed address and posting from another is still subscribed)."""
    if not actor.addresses:
        return False
    found = session.scalar(
        select(Subscription.id)
        .where(
            Subscription.list_id == list_id,
            Subscription.address_key.in_(sorted(actor.addresses)),
            Subscription.status == SubscriptionStatus.active,
        )
        .limit(1)
    )
    return found is not None


class Standing(enum.Enum):
    """What an envelope sender may do on a list, as far as RCPT can tell."""

    writer = "writer"  # may post or reply: the headers decide at DATA
    reader = "reader"  # knows the list (or may), but may not write to it
    stranger = "stranger"  # a private list that does not exist for them


def sender_standing(session: Session, mlist: MailingList, sender: str) -> Standing:
    """The envelope sender's standing on the list; the null sender is anonymous."""
    rights = list_rights(session, mlist, actor_for_address(session, sender))
    if rights & {ListRight.post, ListRight.reply}:
        return Standing.writer
    if rights or mlist.visibility != Visibility.private:
        return Standing.reader
    return Standing.stranger
