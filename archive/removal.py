"""An operator removes a message from a list (spam, a leaked secret).

What is removed: the message's link to the list (its node stays as a placeholder, so the
replies keep their thread), and, when no other list has it, the stored bytes themselves
with everything derived from them (search index; the domains' rows go with the row's
foreign keys, and the `MESSAGE_REMOVED` hook lets them tidy up, as patchsets do). What
stays: a tombstone (`RemovedMessage`) naming the Message-ID, the reason and who removed
it, so intake and `import-mbox` drop the message when it comes again (`archive.store`)
and its URL answers 410 Gone with the reason.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from archive import queries, search
from archive.hooks import MESSAGE_REMOVED
from archive.models import MailingList, Message, RemovedMessage, ThreadNode
from archive.thread_store import SqlNodeStore
from core.errors import UserError

log = logging.getLogger(__name__)


class RemovalError(UserError):
    """The message cannot be removed as asked (not on the list, no reason given)."""


def remove_message(
    session: Session, mlist: MailingList, msgid: str, reason: str, removed_by: str = ""
) -> RemovedMessage:
    """Remove the message `msgid` answers to from `mlist` and leave a tombstone; the
    caller commits. A message already removed is refused with when and why."""
    reason = " ".join(reason.split())
    if not reason:
        raise RemovalError("say why the message is removed (--reason)")
    earlier = removed_message(session, mlist.id, msgid)
    node = queries.find_node(session, mlist.id, msgid)
    if node is None or node.message is None:
        if earlier is not None:
            raise RemovalError(
                f"<{msgid}> was removed from {mlist.name} on {earlier.removed_at:%Y-%m-%d}:"
                f" {earlier.reason}"
            )
        raise RemovalError(f"no message <{msgid}> is archived in the list {mlist.name}")
    message = node.message
    # The id asked for, and the one the message is stored under when it differs (a
    # generated one): neither comes back.
    tombstone = earlier or RemovedMessage(
        list_id=mlist.id, message_id=msgid, reason=reason, removed_by=removed_by
    )
    session.add(tombstone)
    if (
        message.message_id != msgid
        and removed_message(session, mlist.id, message.message_id) is None
    ):
        session.add(
            RemovedMessage(
                list_id=mlist.id,
                message_id=message.message_id,
                reason=reason,
                removed_by=removed_by,
            )
        )
    for hook in MESSAGE_REMOVED:
        hook(session, message.id, mlist.id)
    _unlink(session, node)
    others = session.scalar(
        select(func.count(ThreadNode.id)).where(ThreadNode.message_pk == message.id)
    )
    if not others:
        full = session.scalar(
            select(Message).where(Message.id == message.id).options(undefer(Message.body))
        )
        assert full is not None
        search.unindex_message(session, full)
        session.delete(full)
    session.flush()
    log.warning(
        "removed <%s> from list %s by %s: %s%s",
        msgid,
        mlist.name,
        removed_by or "an operator",
        reason,
        "" if others else " (its bytes deleted)",
    )
    return tombstone


def removed_message(session: Session, list_id: int, msgid: str) -> RemovedMessage | None:
    """The tombstone of `msgid` on the list, if an operator removed it."""
    return session.scalar(
        select(RemovedMessage).where(
            RemovedMessage.list_id == list_id, RemovedMessage.message_id == msgid
        )
    )


def removed_anywhere(
    session: Session, msgid: str, list_ids: list[int] | None
) -> RemovedMessage | None:
    """The tombstone of `msgid` on any of `list_ids` (None: any list)."""
    query = select(RemovedMessage).where(RemovedMessage.message_id == msgid)
    if list_ids is not None:
        query = query.where(RemovedMessage.list_id.in_(list_ids))
    return session.scalar(query.order_by(RemovedMessage.id).limit(1))


def _unlink(session: Session, node: ThreadNode) -> None:
    """The node becomes a placeholder: the thread keeps its shape, and its summary is
    refreshed without the message."""
    node.message = None
    node.message_pk = None
    node.sort_date = None
    store = SqlNodeStore(session, node.list_id)
    if node.thread_id is not None:
        store.touched_threads.add(node.thread_id)
    store.refresh_threads()
