"""Holding a post for moderation: kept out of the archive until a moderator decides.

Intake holds a post (`hold_post`, through `lists.store`) in the transaction that would
have stored it, before its `250`: a `HeldMessage` row with the raw bytes, and a notice to
every moderator with the post attached as message/rfc822 (as Mailman does), sent from
NAME+moderate-TOKEN@, the address a moderator replies to (`lists.moderation_mail`).
Deciding on it is `lists.moderation`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import AccessEntry, GroupMember, GroupRole, UserAddress
from archive.models import MailingList
from archive.store import IncomingMessage, known_on_list
from core.db import utcnow
from core.settings import Settings
from lists.access import ListRight
from lists.models import HeldMessage, HeldStatus
from mail.addresses import list_addresses
from mail.compose import with_attached_message
from mail.models import OutboxMessage
from mail.outbox import queue_mail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hold:
    """One list a post is held on, as intake decided at DATA."""

    list_id: int
    list_name: str
    rcpt_to: str  # the list address the client gave
    reason: str  # why, for the moderators (`lists.post_rights`)
    from_address: str
    subject: str


def moderate_address(list_name: str, domain: str, token: str) -> str:
    """NAME+moderate-TOKEN@DOMAIN: where a moderator's answer about one held post goes."""
    return list_addresses(list_name, domain).at(f"moderate-{token}")


def hold_post(
    session: Session, settings: Settings, message: IncomingMessage, hold: Hold
) -> list[OutboxMessage]:
    """Keep the post out of the archive for the moderators to decide, and queue their
    notice; the caller commits (intake, before its `250`) and enqueues the returned rows.

    A post already held on the list, or already archived on it, is a retried or repeated
    delivery: nothing is held again and nobody is notified twice.
    """
    if _known_on_list(session, hold.list_id, message):
        log.info("<%s> is held or archived on list %d already", message.message_id, hold.list_id)
        return []
    mlist = session.get(MailingList, hold.list_id)
    if mlist is None:
        return []
    now = utcnow()
    held = HeldMessage(
        list_id=mlist.id,
        raw=message.raw,
        mail_from=message.envelope_from,
        rcpt_to=hold.rcpt_to,
        from_address=hold.from_address.strip().lower(),
        subject=hold.subject,
        message_id=message.message_id,
        reason=hold.reason,
        token=secrets.token_hex(16),
        held_at=now,
        expires_at=now + timedelta(days=mlist.moderation_days),
        status=HeldStatus.held,
    )
    session.add(held)
    moderators = moderator_addresses(session, mlist)
    if not moderators:
        return []
    row = queue_mail(
        session,
        envelope_from=list_addresses(mlist.name, settings.domain).bounces,
        recipients=moderators,
        raw=notice_message(settings, mlist, held, moderators),
        purpose="moderation-notice",
    )
    return [row]


def _known_on_list(session: Session, list_id: int, message: IncomingMessage) -> bool:
    """Held on the list already (by Message-ID: one held post per id), archived on it
    (the same message: a different one reusing an archived Message-ID is held), or
    removed from it by an operator."""
    held = session.scalar(
        select(HeldMessage.id)
        .where(HeldMessage.list_id == list_id, HeldMessage.message_id == message.message_id)
        .limit(1)
    )
    return held is not None or known_on_list(session, list_id, message.message_id, message.raw)


def moderator_addresses(session: Session, mlist: MailingList) -> list[str]:
    """Who is told of a held post: everyone with `moderate` by name (the owner, the owning
    group's owners and maintainers, access entries granting it), at a user's primary
    address. Site admins may moderate every list but are not told of each post."""
    found = [mlist.owner_email]
    user_ids: list[int] = []
    if mlist.owner_group_id is not None:
        user_ids += session.scalars(
            select(GroupMember.user_id).where(
                GroupMember.group_id == mlist.owner_group_id,
                GroupMember.role.in_([GroupRole.owner, GroupRole.maintainer]),
            )
        )
    for user_id, address, rights in session.execute(
        select(AccessEntry.user_id, AccessEntry.address_key, AccessEntry.rights).where(
            AccessEntry.scope == f"list:{mlist.id}"
        )
    ):
        if ListRight.moderate not in rights.split(","):
            continue
        if user_id is not None:
            user_ids.append(user_id)
        elif address:
            found.append(address)
    found += _primary_addresses(session, user_ids)
    unique: dict[str, str] = {}
    for address in found:
        if address:
            unique.setdefault(address.strip().lower(), address.strip())
    return list(unique.values())


def _primary_addresses(session: Session, user_ids: list[int]) -> list[str]:
    """Each user's primary confirmed address (the first confirmed one if none is marked)."""
    if not user_ids:
        return []
    rows = session.execute(
        select(UserAddress.user_id, UserAddress.address)
        .where(UserAddress.user_id.in_(set(user_ids)), UserAddress.confirmed_at.isnot(None))
        .order_by(UserAddress.user_id, UserAddress.is_primary.desc(), UserAddress.id)
    )
    chosen: dict[int, str] = {}
    for user_id, address in rows:
        chosen.setdefault(user_id, address)
    return list(chosen.values())


# -- the notice ------------------------------------------------------------------------


def notice_message(
    settings: Settings, mlist: MailingList, held: HeldMessage, moderators: list[str]
) -> bytes:
    """The mail telling moderators what is held and why, with the post attached."""
    domain = settings.domain.lower()
    subject = held.subject or "(no subject)"
    queue = f"{settings.base_url.rstrip('/')}/{mlist.name}/moderation"
    text = (
        f"A post to {list_addresses(mlist.name, domain).posting} is held for moderation.\n\n"
        f"  From:       {held.from_address or '(none)'}\n"
        f"  Subject:    {subject}\n"
        f"  Message-ID: <{held.message_id}>\n"
        f"  Reason:     {held.reason}\n\n"
        "The post is attached. To decide, reply to this message with a line of its own:\n\n"
        "  To approve it (archive it and send it to the list):  !approve\n"
        "  To reject it (the author is told the reason):        !reject REASON\n\n"
        "Only a reply whose From is authenticated counts: a DKIM signature that passes and\n"
        "is aligned with the From domain, or a PGP signature by a key registered for the\n"
        "address. PGP does not cover the address you reply to, so a signed reply must\n"
        "keep this line (quoted is fine):\n\n"
        f"  Held post: {held.token}\n\n"
        f"Or decide on the web: {queue}\n\n"
        f"If nobody decides by {held.expires_at:%Y-%m-%d %H:%M} UTC, the post expires"
        " and is dropped without telling its author.\n"
    )
    headers = {
        "From": f"{mlist.name} moderation <{moderate_address(mlist.name, domain, held.token)}>",
        "To": ", ".join(moderators),
        "Subject": f"[{mlist.name}] Held for moderation ({held.reason}): {subject}",
        "Auto-Submitted": "auto-generated",
    }
    return with_attached_message(headers, text, bytes(held.raw), domain=domain)
