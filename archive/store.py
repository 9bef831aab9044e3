"""The durable write of received messages: raw bytes and envelope, linked to their lists.

Intake (SMTP, LMTP) and `import-mbox` both call `store_messages`; intake answers `250`
only after the transaction holding it has committed. Parsing, threading and indexing
come later, at ingest, so that this write stays small and cannot fail on bad content.
It takes a whole batch at once: a few statements per batch, not per message, is what
lets group commit and bulk import go fast on PostgreSQL as well as on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from archive.models import Message, MessageStatus, ThreadNode
from core.db import utcnow


@dataclass
class IncomingMessage:
    """One message as received, with what intake learnt of it before storing."""

    raw: bytes
    message_id: str
    list_ids: list[int]
    envelope_from: str = ""
    envelope_to: list[str] = field(default_factory=list)
    received_at: datetime | None = None
    # DKIM verdict of these bytes ('pass', 'fail', 'none'), kept with a new row.
    dkim_result: str = "none"
    dkim_domain: str = ""
    dkim_aligned: bool = False


@dataclass
class StoreResult:
    """What became of one message: the row it is in, and which lists got it."""

    message_pk: int | None  # None when every list already had this Message-ID
    new_list_ids: list[int] = field(default_factory=list)
    duplicate_list_ids: list[int] = field(default_factory=list)

    @property
    def dropped(self) -> bool:
        return self.message_pk is None


def store_messages(session: Session, incoming: Sequence[IncomingMessage]) -> list[StoreResult]:
    """Record each message for each of its lists that does not have its Message-ID yet.

    A Message-ID already on a list is dropped for that list (a retried or re-delivered
    copy, also within this batch); a message already stored for another list is linked,
    not stored again (a cross-post). The caller commits.
    """
    msgids = list({m.message_id for m in incoming})
    nodes: dict[tuple[int, str], ThreadNode] = {}
    messages: dict[str, Message] = {}
    node: ThreadNode | None
    message: Message | None
    for i in range(0, len(msgids), 500):
        chunk = msgids[i : i + 500]
        for node in session.scalars(select(ThreadNode).where(ThreadNode.message_id.in_(chunk))):
            nodes[(node.list_id, node.message_id)] = node
        for message in session.scalars(select(Message).where(Message.message_id.in_(chunk))):
            messages[message.message_id] = message

    results: list[StoreResult] = []
    stored_in: list[Message | None] = []  # the row each result will point at
    links: list[tuple[Message, int]] = []  # (message, list id) to link
    linked: set[tuple[int, str]] = set()
    for item in incoming:
        duplicates, wanted = [], []
        for lid in dict.fromkeys(item.list_ids):
            key = (lid, item.message_id)
            node = nodes.get(key)
            if key in linked or (node is not None and node.message_pk is not None):
                duplicates.append(lid)
            else:
                wanted.append(lid)
                linked.add(key)
        results.append(StoreResult(None, wanted, duplicates))
        if not wanted:
            stored_in.append(None)
            continue
        message = messages.get(item.message_id)
        if message is None:
            message = messages[item.message_id] = _new_message(item)
            session.add(message)
        stored_in.append(message)
        links += [(message, lid) for lid in wanted]
    session.flush()  # one multi-row INSERT for the new messages
    link_nodes(session, [(lid, m.message_id, m.id) for m, lid in links])
    for node in nodes.values():
        session.expire(node)  # link_nodes changed rows behind the ORM's back
    for result, message in zip(results, stored_in, strict=True):
        result.message_pk = message.id if message is not None else None
    return results


def store_message(
    session: Session,
    raw: bytes,
    message_id: str,
    list_ids: list[int],
    envelope_from: str = "",
    envelope_to: list[str] | None = None,
    received_at: datetime | None = None,
) -> StoreResult:
    """Store one message (see `store_messages`)."""
    item = IncomingMessage(
        raw, message_id, list_ids, envelope_from, list(envelope_to or []), received_at
    )
    return store_messages(session, [item])[0]


def _new_message(item: IncomingMessage) -> Message:
    return Message(
        message_id=item.message_id,
        raw=item.raw,
        size=len(item.raw),
        envelope_from=item.envelope_from,
        envelope_to=list(item.envelope_to),
        received_at=item.received_at or utcnow(),
        status=MessageStatus.received,
        dkim_result=item.dkim_result,
        dkim_domain=item.dkim_domain,
        dkim_aligned=item.dkim_aligned,
    )


__all__ = ["IncomingMessage", "StoreResult", "store_message", "store_messages"]


def link_nodes(session: Session, links: list[tuple[int, str, int]]) -> None:
    """Point the node of each (list id, Message-ID) at a message row, creating the node or
    filling in a placeholder, in two statements whatever the number of links.

    Tolerant of races: ingest in another process may create a placeholder for the same
    Message-ID between our read and our write; the insert then does nothing and the
    update fills the placeholder in.
    """
    if not links:
        return
    rows = [{"list_id": lid, "message_id": mid, "message_pk": pk} for lid, mid, pk in links]
    # Core statements: plain executemany, no ORM bulk rules. A mapped class's __table__ is
    # typed as any FromClause; ThreadNode's is its Table.
    nodes = cast(Table, ThreadNode.__table__)
    session.execute(insert_ignoring_conflicts(session, nodes), rows)
    session.execute(
        update(nodes)
        .where(
            nodes.c.list_id == bindparam("b_list_id"),
            nodes.c.message_id == bindparam("b_message_id"),
            nodes.c.message_pk.is_(None),
        )
        .values(message_pk=bindparam("b_message_pk")),
        [{"b_" + k: v for k, v in row.items()} for row in rows],
    )


def insert_ignoring_conflicts(session: Session, table):
    """INSERT ... ON CONFLICT DO NOTHING, in the dialect of the session's database."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing()
