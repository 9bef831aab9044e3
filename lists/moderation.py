"""Deciding on posts held for moderation (`lists.holding` holds them).

The web's queue (`web.moderation`) and moderators' replies by mail
(`lists.moderation_mail`) both end here:

- `approve_held` stores the post exactly as intake stores a post it accepts
  (`lists.store.store_posts`: archived, and copies recorded for the subscribers of the
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

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, undefer

from archive.models import MailingList
from archive.parse import parse_message
from archive.tasks import enqueue_ingest
from core.db import after_commit, utcnow
from core.errors import UserError
from core.settings import Settings
from lists.models import HeldMessage, HeldStatus
from lists.store import post_request, store_posts
from mail.addresses import list_addresses
from mail.compose import reply_to
from mail.outbox import after_commit_enqueue

log = logging.getLogger(__name__)


HELD_PAGE = 25
# How much of a held post's text the queue shows; the notice has the whole message.
TEXT_SHOWN = 20_000


class ModerationRefused(UserError):
    """A decision on a held post that cannot be made; the message says why."""


class AlreadyDecided(ModerationRefused):
    """The post was approved, rejected or expired before this decision."""

    def __init__(self, held: HeldMessage) -> None:
        self.held = held
        who = f" by {held.decided_by}" if held.decided_by else ""
        when = f" on {held.decided_at:%Y-%m-%d %H:%M} UTC" if held.decided_at else ""
        super().__init__(f"this post was already {held.status.value}{who}{when}")


# -- deciding ------------------------------------------------------------------------------


def find_held(session: Session, token: str) -> HeldMessage | None:
    return session.scalar(select(HeldMessage).where(HeldMessage.token == token))


def approve_held(session: Session, settings: Settings, held: HeldMessage, by: str) -> int | None:
    """Approve the post and store it as intake stores an accepted post: archived on the
    list, copies recorded for its current subscribers. The caller commits; ingest and
    delivery are enqueued on that commit. Returns the archived message's row id (None
    when the list had the message already). Raises AlreadyDecided."""
    _decide(session, held, HeldStatus.approved, by, "")
    mlist = session.get(MailingList, held.list_id)
    assert mlist is not None  # list_id is a foreign key, and deleting the list deletes held
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
    commits. Raises AlreadyDecided, or ModerationRefused without a reason."""
    reason = " ".join(reason.split())
    if not reason:
        raise ModerationRefused("a rejection needs a reason: the author is told it")
    _decide(session, held, HeldStatus.rejected, by, reason)
    mlist = session.get(MailingList, held.list_id)
    assert mlist is not None  # list_id is a foreign key, and deleting the list deletes held
    raw = bytes(held.raw)
    parsed = parse_message(raw)
    author = held.from_address
    if not author or parsed.auto_submitted not in (None, "no"):
        return
    addresses = list_addresses(mlist.name, settings.domain)
    body = (
        f"Your post to {addresses.posting} was not accepted by its moderators.\n\n"
        f"  Subject:    {held.subject or '(no subject)'}\n"
        f"  Message-ID: <{held.message_id}>\n"
        f"  Sent:       {held.held_at:%Y-%m-%d %H:%M} UTC\n\n"
        f"Reason: {reason}\n\n"
        f"To write to the list's owner, write to {addresses.owner}.\n"
    )
    subject = held.subject or ""
    reply_to(
        session,
        parsed,
        to=author,
        from_addr=addresses.owner,
        subject=f"Rejected: {subject}" if subject else "Your post was rejected",
        body=body,
        envelope_from=addresses.bounces,
        purpose="moderation-rejected",
        domain=addresses.domain,
    )
    log.info("held <%s> rejected on %s by %s", held.message_id, mlist.name, by)


def _decide(session: Session, held: HeldMessage, status: HeldStatus, by: str, note: str) -> None:
    """Move a held post to `status`, if it is still held (see the module docstring)."""
    now = utcnow()
    result = session.execute(
        update(HeldMessage)
        .where(HeldMessage.id == held.id, HeldMessage.status == HeldStatus.held)
        .values(status=status, decided_by=by[:254], decided_at=now, decision_note=note)
        .execution_options(synchronize_session=False)
    )
    changed = cast(CursorResult, result).rowcount
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
            .where(HeldMessage.status == HeldStatus.held, HeldMessage.expires_at <= now)
            .order_by(HeldMessage.expires_at)
            .limit(batch)
        )
    )
    if not ids:
        return 0
    result = session.execute(
        update(HeldMessage)
        .where(HeldMessage.id.in_(ids), HeldMessage.status == HeldStatus.held)
        .values(
            status=HeldStatus.expired,
            decided_at=now,
            decision_note="nobody decided in time",
        )
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult, result).rowcount


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
    waiting = (HeldMessage.list_id == list_id, HeldMessage.status == HeldStatus.held)
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
    after_commit(session, enqueue_ingest, message_pk)
