"""Posts held for moderation: kept out of the archive until a moderator decides.

Intake holds a post (`hold_post`) in the transaction that would have stored it, before
its `250`: a `HeldMessage` row with the raw bytes, and a notice to every moderator with
the post attached as message/rfc822 (as Mailman does), sent from NAME+moderate-TOKEN@,
the address a moderator replies to (`mta.moderation_mail`). The web's queue
(`web.moderation`) and those replies both end here:

- `approve_held` stores the post exactly as intake stores a post it accepts
  (`mta.intake.store_posts`: archived, and copies recorded for the subscribers of the
  moment), in the caller's transaction; ingest and delivery are enqueued on its commit.
- `reject_held` tells the author why, unless a machine sent the post.
- `expire_held` (a beat task) marks posts nobody decided on within the list's
  `moderation_days` as expired, silently: most of them are spam with a forged From, and
  telling that address would be backscatter. A moderator who wants an author told
  rejects instead.

A decision is a conditional UPDATE of a row still `held`, so two moderators deciding at
once cannot both act: the second is told who decided (`AlreadyDecided`).
"""

from __future__ import annotations

import enum
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, undefer

from archive.models import MailingList, ThreadNode, utcnow
from archive.parse import parse_message
from archive.store import IncomingMessage
from mailyard.accounts.models import AccessEntry, GroupMember, GroupRole, UserAddress
from mailyard.db import after_commit
from mailyard.settings import Settings
from mta.models import HeldMessage, OutboxMessage
from mta.outbox import AUTO_REPLIED, after_commit_enqueue, build_message, queue_mail, send_on_commit

log = logging.getLogger(__name__)

HELD_PAGE = 25
# How much of a held post's text the queue shows; the notice has the whole message.
TEXT_SHOWN = 20_000


class HeldStatus(enum.Enum):
    held = "held"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"


@dataclass(frozen=True)
class Hold:
    """One list a post is held on, as intake decided at DATA."""

    list_id: int
    list_name: str
    rcpt_to: str  # the list address the client gave
    reason: str  # why, for the moderators (`mta.post_rights`)
    from_address: str
    subject: str


class AlreadyDecided(Exception):
    """The post was approved, rejected or expired before this decision."""

    def __init__(self, held: HeldMessage) -> None:
        self.held = held
        who = f" by {held.decided_by}" if held.decided_by else ""
        when = f" on {held.decided_at:%Y-%m-%d %H:%M} UTC" if held.decided_at else ""
        super().__init__(f"this post was already {held.status}{who}{when}")


def moderate_address(list_name: str, domain: str, token: str) -> str:
    return f"{list_name}+moderate-{token}@{domain}"


# -- holding -------------------------------------------------------------------------------


def hold_post(
    session: Session, settings: Settings, message: IncomingMessage, hold: Hold
) -> list[OutboxMessage]:
    """Keep the post out of the archive for the moderators to decide, and queue their
    notice; the caller commits (intake, before its `250`) and enqueues the returned rows.

    A post already held on the list, or already archived on it, is a retried or repeated
    delivery: nothing is held again and nobody is notified twice.
    """
    if _known_on_list(session, hold.list_id, message.message_id):
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
        status=HeldStatus.held.value,
    )
    session.add(held)
    moderators = moderator_addresses(session, mlist)
    if not moderators:
        return []
    domain = settings.domain.lower()
    row = queue_mail(
        session,
        envelope_from=f"{mlist.name}+bounces@{domain}",
        recipients=moderators,
        raw=notice_message(settings, mlist, held, moderators),
        purpose="moderation-notice",
    )
    return [row]


def _known_on_list(session: Session, list_id: int, message_id: str) -> bool:
    held = session.scalar(
        select(HeldMessage.id)
        .where(HeldMessage.list_id == list_id, HeldMessage.message_id == message_id)
        .limit(1)
    )
    if held is not None:
        return True
    archived = session.scalar(
        select(ThreadNode.id).where(
            ThreadNode.list_id == list_id,
            ThreadNode.message_id == message_id,
            ThreadNode.message_pk.isnot(None),
        )
    )
    return archived is not None


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
        if "moderate" not in rights.split(","):
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
        f"A post to {mlist.name}@{domain} is held for moderation.\n\n"
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


def with_attached_message(
    headers: dict[str, str], text: str, attached: bytes, *, domain: str
) -> bytes:
    """A multipart/mixed mail: `text`, then `attached` as message/rfc822 with its bytes
    unchanged (the email package would re-fold the headers of a message it attaches)."""
    boundary = f"=_mailyard_{secrets.token_hex(12)}"
    head = EmailMessage(policy=SMTP)
    for name, value in headers.items():
        head[name] = " ".join(value.split())
    head["Date"] = format_datetime(utcnow())
    head["Message-ID"] = make_msgid(domain=domain)
    head["MIME-Version"] = "1.0"
    head["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'
    header_block = head.as_bytes().split(b"\r\n\r\n", 1)[0]
    part = MIMEPart(policy=SMTP)
    part.set_content(text, charset="utf-8")
    inner = re.sub(rb"\r?\n", b"\r\n", attached)
    if not inner.endswith(b"\r\n"):
        inner += b"\r\n"
    cte = b"" if inner.isascii() else b"Content-Transfer-Encoding: 8bit\r\n"
    delimiter = b"--" + boundary.encode()
    return b"".join(
        [
            header_block,
            b"\r\n\r\n",
            delimiter,
            b"\r\n",
            part.as_bytes(),
            b"\r\n" + delimiter + b"\r\n",
            b"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n",
            cte,
            b"\r\n",
            inner,
            b"\r\n" + delimiter + b"--\r\n",
        ]
    )


# -- deciding ------------------------------------------------------------------------------


def find_held(session: Session, token: str) -> HeldMessage | None:
    return session.scalar(select(HeldMessage).where(HeldMessage.token == token))


def approve_held(session: Session, settings: Settings, held: HeldMessage, by: str) -> int | None:
    """Approve the post and store it as intake stores an accepted post: archived on the
    list, copies recorded for its current subscribers. The caller commits; ingest and
    delivery are enqueued on that commit. Returns the archived message's row id (None
    when the list had the message already). Raises AlreadyDecided."""
    from mta.intake import post_request, store_posts  # here: intake imports this module

    _decide(session, held, HeldStatus.approved, by, "")
    mlist = session.get(MailingList, held.list_id)
    raw = bytes(held.raw)
    request = post_request(
        raw,
        parse_message(raw),
        envelope_from=held.mail_from,
        envelope_to=[held.rcpt_to],
        lists={mlist.id: mlist.name},
    )
    [result], rows = store_posts(session, settings, [request])
    for row in rows:
        after_commit_enqueue(session, row)
    if result.message_pk is not None:
        _ingest_after_commit(session, result.message_pk)
    log.info("held <%s> approved on %s by %s", held.message_id, mlist.name, by)
    return result.message_pk


def reject_held(
    session: Session, settings: Settings, held: HeldMessage, by: str, reason: str
) -> None:
    """Reject the post and tell its author why (unless a machine sent it); the caller
    commits. Raises AlreadyDecided, or ValueError without a reason."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValueError("a rejection needs a reason: the author is told it")
    _decide(session, held, HeldStatus.rejected, by, reason)
    mlist = session.get(MailingList, held.list_id)
    raw = bytes(held.raw)
    parsed = parse_message(raw)
    author = held.from_address
    if not author or parsed.auto_submitted not in (None, "no"):
        return
    domain = settings.domain.lower()
    body = (
        f"Your post to {mlist.name}@{domain} was not accepted by its moderators.\n\n"
        f"  Subject:    {held.subject or '(no subject)'}\n"
        f"  Message-ID: <{held.message_id}>\n"
        f"  Sent:       {held.held_at:%Y-%m-%d %H:%M} UTC\n\n"
        f"Reason: {reason}\n\n"
        f"To write to the list's owner, write to {mlist.name}+owner@{domain}.\n"
    )
    subject = held.subject or ""
    send_on_commit(
        session,
        envelope_from=f"{mlist.name}+bounces@{domain}",
        recipients=[author],
        raw=build_message(
            from_addr=f"{mlist.name}+owner@{domain}",
            to_addrs=[author],
            subject=f"Rejected: {subject}" if subject else "Your post was rejected",
            body=body,
            in_reply_to=held.message_id,
            references=parsed.references,
            extra_headers=AUTO_REPLIED,
            domain=domain,
        ),
        purpose="moderation-rejected",
    )
    log.info("held <%s> rejected on %s by %s", held.message_id, mlist.name, by)


def _decide(session: Session, held: HeldMessage, status: HeldStatus, by: str, note: str) -> None:
    """Move a held post to `status`, if it is still held (see the module docstring)."""
    now = utcnow()
    changed = session.execute(
        update(HeldMessage)
        .where(HeldMessage.id == held.id, HeldMessage.status == HeldStatus.held.value)
        .values(status=status.value, decided_by=by[:254], decided_at=now, decision_note=note)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(held)
    if not changed:
        raise AlreadyDecided(held)


def expire_held(session: Session, now: datetime | None = None, batch: int = 500) -> int:
    """Mark posts still held past their list's `moderation_days` as expired, a batch at a
    time; the author is not told (see the module docstring). The caller commits."""
    now = now or utcnow()
    ids = list(
        session.scalars(
            select(HeldMessage.id)
            .where(HeldMessage.status == HeldStatus.held.value, HeldMessage.expires_at <= now)
            .order_by(HeldMessage.expires_at)
            .limit(batch)
        )
    )
    if not ids:
        return 0
    return session.execute(
        update(HeldMessage)
        .where(HeldMessage.id.in_(ids), HeldMessage.status == HeldStatus.held.value)
        .values(
            status=HeldStatus.expired.value,
            decided_at=now,
            decision_note="nobody decided in time",
        )
        .execution_options(synchronize_session=False)
    ).rowcount


# -- the queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldPage:
    posts: list[HeldMessage]
    total: int
    next_after: int | None  # the id to page on from, when there is more


def held_page(
    session: Session, list_id: int, *, after_id: int = 0, limit: int = HELD_PAGE
) -> HeldPage:
    """Posts still held on the list, oldest first, keyset-paginated on the id."""
    waiting = (HeldMessage.list_id == list_id, HeldMessage.status == HeldStatus.held.value)
    rows = list(
        session.scalars(
            select(HeldMessage)
            .options(undefer(HeldMessage.raw))
            .where(*waiting, HeldMessage.id > after_id)
            .order_by(HeldMessage.id)
            .limit(limit + 1)
        )
    )
    total = session.scalar(select(func.count()).select_from(HeldMessage).where(*waiting))
    more = len(rows) > limit
    rows = rows[:limit]
    return HeldPage(rows, total or 0, rows[-1].id if more else None)


def held_text(held: HeldMessage) -> str:
    """The post's text as people read it (its plain-text parts), cut to `TEXT_SHOWN`."""
    body = parse_message(bytes(held.raw)).body
    if len(body) > TEXT_SHOWN:
        body = body[:TEXT_SHOWN] + f"\n[... {len(body) - TEXT_SHOWN} more characters]"
    return body


# -- after the commit ----------------------------------------------------------------------


def _ingest_after_commit(session: Session, message_pk: int) -> None:
    """Enqueue ingest of an approved post once the caller's transaction commits (as intake
    does after its own commit); a rolled-back approval enqueues nothing."""
    after_commit(session, _enqueue_ingest, message_pk)


def _enqueue_ingest(pks: list[int]) -> None:
    from archive.tasks import enqueue_ingest  # here: it imports the Celery app

    enqueue_ingest(pks)
