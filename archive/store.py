"""The durable write of a received message: raw bytes and envelope, linked to its lists.

Intake (SMTP, LMTP) and `import-mbox` both call `store_message`; intake answers `250`
only after the transaction holding it has committed. Parsing, threading and indexing
come later, at ingest, so that this write stays small and cannot fail on bad content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Message, MessageStatus, ThreadNode, utcnow


@dataclass
class StoreResult:
    """What became of one message: the row it is in, and which lists got it."""

    message_pk: int | None  # None when every list already had this Message-ID
    new_list_ids: list[int] = field(default_factory=list)
    duplicate_list_ids: list[int] = field(default_factory=list)

    @property
    def dropped(self) -> bool:
        return self.message_pk is None


def store_message(
    session: Session,
    raw: bytes,
    message_id: str,
    list_ids: list[int],
    envelope_from: str = "",
    envelope_to: list[str] | None = None,
    received_at: datetime | None = None,
) -> StoreResult:
    """Record `raw` for each list in `list_ids` that does not have `message_id` yet.

    A Message-ID already on a list is dropped for that list (a retried or re-delivered
    copy); a message already stored for another list is linked, not stored again (a
    cross-post). The caller commits.
    """
    nodes = {
        n.list_id: n
        for n in session.scalars(
            select(ThreadNode).where(
                ThreadNode.message_id == message_id, ThreadNode.list_id.in_(list_ids)
            )
        )
    }
    duplicates = [lid for lid in list_ids if lid in nodes and nodes[lid].message_pk is not None]
    wanted = [lid for lid in dict.fromkeys(list_ids) if lid not in duplicates]
    if not wanted:
        return StoreResult(None, [], duplicates)
    message = session.scalar(select(Message).where(Message.message_id == message_id).limit(1))
    if message is None:
        message = Message(
            message_id=message_id,
            raw=raw,
            size=len(raw),
            envelope_from=envelope_from,
            envelope_to=list(envelope_to or []),
            received_at=received_at or utcnow(),
            status=MessageStatus.received,
        )
        session.add(message)
        session.flush()
    for lid in wanted:
        node = nodes.get(lid)
        if node is None:
            session.add(ThreadNode(list_id=lid, message_id=message_id, message_pk=message.id))
        else:  # a placeholder made by a reply that arrived first
            node.message_pk = message.id
    session.flush()
    return StoreResult(message.id, wanted, duplicates)
