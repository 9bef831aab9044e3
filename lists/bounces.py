"""Bounces: mail to NAME+bounces@ (and its VERP form NAME+bounces=USER=HOST@), and
recipients refused outright when we delivered, scored per subscriber as Mailman does.

Each day with a permanent failure adds a point; a score older than `BOUNCE_STALE_AFTER`
starts again from zero; at the list's threshold the subscription is disabled and the
subscriber and the list owner are told. VERP names the subscriber for certain; without
it, the DSN's Final-Recipient does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from archive.lists import get_list
from archive.models import MailingList
from archive.parse import ParsedMessage
from core.db import utcnow
from core.settings import Settings, get_settings
from lists.membership import find_subscription, list_delivery
from lists.models import BounceEvent, Subscription, SubscriptionStatus
from mail.addresses import list_addresses
from mail.compose import send_notice
from mail.dsn import BounceKind, read_bounce
from mail.policy import ACCEPT, Decision
from mail.verp import verp_recipient

log = logging.getLogger(__name__)

BOUNCE_STALE_AFTER = timedelta(days=7)  # Mailman's bounce_info_stale_after


@dataclass(frozen=True)
class BounceTarget:
    list_id: int
    name: str
    domain: str
    recipient: str | None  # the subscriber a VERP address names


def find_bounce_target(
    session: Session, settings: Settings, match: re.Match[str]
) -> BounceTarget | None:
    mlist = get_list(session, match.group("name"))
    if mlist is None:
        return None
    recipient = verp_recipient(match.group(0), mlist.name) if match.group("verp") else None
    return BounceTarget(mlist.id, mlist.name, settings.domain.lower(), recipient)


def judge_bounce(msg: ParsedMessage, target: BounceTarget) -> Decision:
    """Bounces are robots' mail by nature: every one is taken (and read) at DATA."""
    return ACCEPT


def handle_bounce(
    session: Session, settings: Settings, msg: ParsedMessage, raw: bytes, target: BounceTarget
) -> None:
    """Record what the bounce says about which subscribers; the caller commits."""
    bounce = read_bounce(raw)
    if bounce.kind is BounceKind.not_a_bounce:
        log.info("mail to %s+bounces is not a bounce (%s); ignored", target.name, msg.subject)
        return
    if target.recipient:
        about = [r for r in bounce.recipients if r.address == target.recipient.lower()]
        failed = about[0] if about else (bounce.recipients[0] if bounce.recipients else None)
        record_bounce(
            session,
            target.list_id,
            target.recipient,
            permanent=bounce.kind is BounceKind.permanent,
            status=failed.status if failed else "",
            diagnostic=failed.diagnostic if failed else msg.subject,
            source="dsn",
        )
        return
    for failed in bounce.recipients:
        record_bounce(
            session,
            target.list_id,
            failed.address,
            permanent=failed.permanent,
            status=failed.status,
            diagnostic=failed.diagnostic,
            source="dsn",
        )


def record_bounce(
    session: Session,
    list_id: int,
    address: str,
    *,
    permanent: bool,
    status: str = "",
    diagnostic: str = "",
    source: str = "dsn",
    now: datetime | None = None,
) -> Subscription | None:
    """Note a bounce for `address` on the list, and disable its subscription when the
    score reaches the threshold. Returns the subscription, None for a non-subscriber."""
    now = now or utcnow()
    sub = find_subscription(session, list_id, address)
    if sub is None:
        log.info("bounce for %s, not subscribed to list %d; ignored", address, list_id)
        return None
    session.add(
        BounceEvent(
            list_id=list_id,
            address=sub.address,
            received_at=now,
            permanent=permanent,
            status=status[:16],
            diagnostic=diagnostic[:1000],
            source=source,
        )
    )
    if not permanent or sub.status is not SubscriptionStatus.active:
        return sub
    last = sub.last_bounce_at
    if last is not None and now - last > BOUNCE_STALE_AFTER:
        sub.bounce_score = 0.0
    if last is None or last.date() != now.date() or sub.bounce_score == 0:
        sub.bounce_score += 1.0
    sub.last_bounce_at = now
    threshold = list_delivery(session, list_id).bounce_threshold
    if sub.bounce_score >= threshold:
        _disable(session, sub, now)
    return sub


def _disable(session: Session, sub: Subscription, now: datetime) -> None:
    sub.status = SubscriptionStatus.disabled
    sub.disabled_at = now
    mlist = session.get(MailingList, sub.list_id)
    if mlist is None:
        return
    log.info(
        "disabled %s on %s after %.1f bounce points", sub.address, mlist.name, sub.bounce_score
    )
    domain = get_settings().domain.lower()
    addresses = list_addresses(mlist.name, domain)
    posting = addresses.posting
    notices = [
        (
            sub.address,
            f"Your subscription to {mlist.name} is disabled",
            f"Mail from {posting} to {sub.address} has been bouncing, so your subscription\n"
            "is disabled: you will get nothing from the list until it is enabled again.\n\n"
            f"To enable it, subscribe again by writing to {addresses.at('subscribe')}.\n",
        ),
        (
            mlist.owner_email,
            f"{sub.address} disabled on {mlist.name} by bounces",
            f"{sub.address} reached {sub.bounce_score:g} bounce points (the threshold is\n"
            f"{list_delivery(session, mlist.id).bounce_threshold:g}), so its subscription to"
            f" {posting} is disabled.\n",
        ),
    ]
    for to, subject, body in notices:
        notify(session, mlist, domain, to, subject, body, purpose="bounce-disabled")


def notify(
    session: Session,
    mlist: MailingList,
    domain: str,
    to: str,
    subject: str,
    body: str,
    *,
    purpose: str,
) -> None:
    """A notice from the list's owner address, sent through the outbox on commit."""
    addresses = list_addresses(mlist.name, domain)
    send_notice(
        session,
        to=[to],
        from_addr=addresses.owner,
        subject=subject,
        body=body,
        envelope_from=addresses.bounces,
        purpose=purpose,
        domain=addresses.domain,
    )
