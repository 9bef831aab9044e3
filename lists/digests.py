"""The daily digest: every post a list received since the last one, in one plain-text
mail (RFC 1153, `lists.digest_text`) to the subscribers who chose digest delivery."""

from __future__ import annotations

import logging
from datetime import datetime
from email.utils import formataddr

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from accounts.access import readers_among
from archive.models import MailingList, Message, MessageStatus, ThreadNode
from core.db import utcnow
from core.settings import Settings
from lists.access import list_resource
from lists.digest_text import DigestEntry, digest_body, digest_subject
from lists.fanout import FANOUT_BATCH
from lists.membership import list_delivery
from lists.models import DeliveryMode, Subscription, SubscriptionStatus
from mail.addresses import list_addresses
from mail.compose import build_message
from mail.outbox import send_on_commit

log = logging.getLogger(__name__)

# Posts in one digest at most; the rest wait for the next one.
DIGEST_MAX_POSTS = 500


def digest_recipients(session: Session, list_id: int) -> list[Subscription]:
    """Active digest subscribers who may read the list (as for each post, `lists.fanout`)."""
    subscribers = list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.list_id == list_id,
                Subscription.status == SubscriptionStatus.active,
                Subscription.delivery == DeliveryMode.digest,
            )
            .order_by(Subscription.id)
        )
    )
    mlist = session.get(MailingList, list_id)
    if mlist is None:
        return subscribers
    readers = set(readers_among(session, list_resource(mlist), [s.address for s in subscribers]))
    return [s for s in subscribers if s.address in readers]


def send_digests(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Queue each list's digest, when it has digest subscribers and new posts; returns how
    many digests were queued. The caller commits."""
    now = now or utcnow()
    sent = 0
    for mlist in session.scalars(select(MailingList).order_by(MailingList.id)):
        subscribers = digest_recipients(session, mlist.id)
        if subscribers and send_digest(session, settings, mlist, subscribers, now):
            sent += 1
    return sent


def send_digest(
    session: Session,
    settings: Settings,
    mlist: MailingList,
    subscribers: list[Subscription],
    now: datetime,
) -> bool:
    options = list_delivery(session, mlist.id)
    since = options.digest_sent_until or min(s.subscribed_at for s in subscribers)
    posts = list(
        session.scalars(
            select(Message)
            .join(ThreadNode, ThreadNode.message_pk == Message.id)
            .where(
                ThreadNode.list_id == mlist.id,
                Message.status == MessageStatus.archived,
                Message.received_at > since,
                Message.received_at <= now,
            )
            .order_by(Message.received_at, Message.id)
            .limit(DIGEST_MAX_POSTS)
            .options(undefer(Message.body))
        )
    )
    if not posts:
        return False
    addresses = list_addresses(mlist.name, settings.domain)
    posting = addresses.posting
    options.digest_issue += 1
    entries = [
        DigestEntry(
            author=formataddr((m.from_name, m.from_addr)) if m.from_addr else "(unknown)",
            date=m.date,
            subject=m.subject,
            message_id=m.message_id,
            body=m.body,
        )
        for m in posts
    ]
    body = digest_body(
        mlist.name,
        posting,
        options.digest_volume,
        options.digest_issue,
        entries,
        archive_url=f"{settings.base_url.rstrip('/')}/{mlist.name}/",
        help_address=addresses.at("help"),
        unsubscribe_address=addresses.at("unsubscribe"),
    )
    raw = build_message(
        from_addr=posting,
        to_addrs=[posting],
        subject=digest_subject(mlist.name, options.digest_volume, options.digest_issue),
        body=body,
        extra_headers={
            "List-Id": addresses.list_id_header,
            "List-Post": f"<mailto:{posting}>",
            "List-Unsubscribe": f"<mailto:{addresses.at('unsubscribe')}>",
            "Precedence": "list",
        },
        domain=addresses.domain,
    )
    recipients = [s.address for s in subscribers]
    for i in range(0, len(recipients), FANOUT_BATCH):
        send_on_commit(
            session,
            envelope_from=addresses.bounces,
            recipients=recipients[i : i + FANOUT_BATCH],
            raw=raw,
            purpose="list-digest",
        )
    # The next digest starts after the last post in this one (a full digest leaves some).
    options.digest_sent_until = posts[-1].received_at if len(posts) == DIGEST_MAX_POSTS else now
    log.info("digest %d of %s: %d posts", options.digest_issue, mlist.name, len(posts))
    return True
