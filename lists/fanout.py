"""Who receives a post, recorded as outbox rows in the transaction that archives it.

Intake calls `record_fanout` for each list a new message was stored on, in the same
transaction as the raw bytes: a post that got `250` goes out to every subscriber, and a
retried or duplicate post (dropped by the store) goes out to nobody a second time. The
rows hold no bytes: they are of the outbox kind `LIST_POST`, whose deliverer
(`lists.delivery`) builds each copy from the archived message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.access import readers_among
from archive.models import MailingList
from core.db import utcnow
from lists.access import list_resource
from lists.models import DeliveryMode, Subscription, SubscriptionStatus
from mail.addresses import list_addresses
from mail.models import OutboxMessage, OutboxStatus

# Recipients per outbox row: a row is what one worker sends over one connection, so
# rows are the unit that several workers share.
FANOUT_BATCH = 100
PURPOSE = "list-post"
LIST_POST = "list-post"  # the outbox kind of these rows (`mail.delivery.OutboxKind`)


@dataclass(frozen=True)
class Fanout:
    """What intake knows of a post that decides who gets a copy."""

    sender: str  # the From address
    addressed: frozenset[str] = field(default_factory=frozenset)  # To and Cc, lower-cased
    list_names: dict[int, str] = field(default_factory=dict)  # list id -> name


def fanout_recipients(
    session: Session, list_id: int, *, sender: str, addressed: Iterable[str]
) -> list[str]:
    """Active subscribers who get each post, minus those the author wrote to directly
    (they have a copy already), minus the author unless they asked for their own, and
    minus those who may not read the list (a list made private since they subscribed, or
    one whose access entry shut them out): its posts go only to its readers."""
    skip = {a.lower() for a in addressed}
    sender_key = sender.strip().lower()
    rows = session.execute(
        select(Subscription.address, Subscription.address_key, Subscription.copy_self)
        .where(
            Subscription.list_id == list_id,
            Subscription.status == SubscriptionStatus.active,
            Subscription.delivery == DeliveryMode.each,
        )
        .order_by(Subscription.id)
    )
    wanted = [
        address
        for address, key, copy_self in rows
        if key not in skip and (copy_self or key != sender_key)
    ]
    mlist = session.get(MailingList, list_id)
    return readers_among(session, list_resource(mlist), wanted) if mlist is not None else wanted


def record_fanout(
    session: Session,
    message_pk: int,
    list_id: int,
    *,
    list_name: str,
    domain: str,
    fanout: Fanout,
    batch: int = FANOUT_BATCH,
) -> list[OutboxMessage]:
    """Add the outbox rows that send this post to the list's subscribers; the caller
    commits, then enqueues their delivery."""
    recipients = fanout_recipients(
        session, list_id, sender=fanout.sender, addressed=fanout.addressed
    )
    now = utcnow()
    rows = [
        OutboxMessage(
            created_at=now,
            kind=LIST_POST,
            envelope_from=list_addresses(list_name, domain).bounces,
            recipients=chunk,
            remaining=chunk,
            raw=None,
            message_pk=message_pk,
            list_id=list_id,
            delivered=0,
            status=OutboxStatus.pending,
            attempts=0,
            next_attempt_at=now,
            last_error="",
            purpose=PURPOSE,
        )
        for chunk in (recipients[i : i + batch] for i in range(0, len(recipients), batch))
    ]
    session.add_all(rows)
    return rows
