"""The durable write of received messages: raw bytes and envelope, linked to their lists.

Intake (SMTP, LMTP) and `import-mbox` both call `store_messages`; intake answers `250`
only after the transaction holding it has committed. Parsing, threading and indexing
come later, at ingest, so that this write stays small and cannot fail on bad content.
It takes a whole batch at once: a few statements per batch, not per message, is what
lets group commit and bulk import go fast on PostgreSQL as well as on SQLite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from archive.models import (
    AliasKind,
    Message,
    MessageAlias,
    MessageStatus,
    RemovedMessage,
    ThreadNode,
)
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
    """Record each message for each of its lists that does not have it yet.

    The same message again (byte for byte, or but for its transport headers: a retried
    or re-delivered copy, also within this batch) is dropped for the lists that have it
    and linked, not stored again, to the others (a cross-post). A different message that
    reuses a known Message-ID is kept, stored under a generated id with the one it was
    sent with as an alias, as public-inbox keeps it. A Message-ID an operator removed
    from a list (a tombstone) is dropped for that list. The caller commits.
    """
    fingerprints = [content_fingerprint(item.raw) for item in incoming]
    known = _KnownMessages.load(
        session,
        list({m.message_id for m in incoming}),
        [generated_message_id(f) for f in fingerprints],
    )
    results: list[StoreResult] = []
    stored_in: list[Message | None] = []  # the row each result will point at
    links: list[tuple[Message, int]] = []  # (message, list id) to link
    for item, fingerprint in zip(incoming, fingerprints, strict=True):
        message = known.same_message(item.message_id, fingerprint)
        duplicates, wanted = [], []
        for lid in dict.fromkeys(item.list_ids):
            if known.is_removed(lid, item.message_id, fingerprint) or (
                message is not None and known.is_linked(lid, message)
            ):
                duplicates.append(lid)
            else:
                wanted.append(lid)
        results.append(StoreResult(None, wanted, duplicates))
        if not wanted:
            stored_in.append(None)
            continue
        if message is None:
            message = known.add(session, item, fingerprint)
        for lid in wanted:
            known.linked.add((lid, message))
        stored_in.append(message)
        links += [(message, lid) for lid in wanted]
    session.flush()  # one multi-row INSERT for the new messages
    known.add_aliases(session)
    link_nodes(session, [(lid, m.message_id, m.id) for m, lid in links])
    for node in known.nodes.values():
        session.expire(node)  # link_nodes changed rows behind the ORM's back
    for result, message in zip(results, stored_in, strict=True):
        result.message_pk = message.id if message is not None else None
    return results


# Headers the path a message took adds or changes: a copy that differs from another only
# in these is the same message delivered again (a retry, a second route).
TRANSPORT_HEADERS = frozenset({b"received", b"return-path", b"delivered-to", b"x-original-to"})


def content_fingerprint(raw: bytes) -> str:
    """sha256 of the message without its transport headers, with LF line ends and
    without trailing line ends (which mbox separators add or take), so that a
    re-delivery, over SMTP or from an mbox, gives the same fingerprint."""
    data = raw.replace(b"\r\n", b"\n")
    head, sep, body = data.partition(b"\n\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        name, colon, _ = line.partition(b":")
        skipping = bool(colon) and name.strip().lower() in TRANSPORT_HEADERS
        if not skipping:
            kept.append(line)
    return hashlib.sha256(b"\n".join(kept) + sep + body.rstrip(b"\n")).hexdigest()


def generated_message_id(fingerprint: str) -> str:
    """The id a different message that reuses a Message-ID is stored under: made from its
    content, so the same copy gets the same id wherever it is stored."""
    return f"{fingerprint[:32]}@reused.mailyard.invalid"


@dataclass
class _KnownMessages:
    """What the database already holds for a batch's Message-IDs, loaded in a few
    queries, and what the batch adds to it as it goes."""

    # Every stored message sent with a Message-ID: the one stored under it, then those
    # stored under a generated id (aliases of kind `reused`).
    sent_with: dict[str, list[Message]]
    nodes: dict[tuple[int, str], ThreadNode]
    removed: set[tuple[int, str]]
    linked: set[tuple[int, Message]] = field(default_factory=set)
    fingerprints: dict[int, str] = field(default_factory=dict)  # id(message) -> hash
    new_aliases: list[tuple[Message, str]] = field(default_factory=list)

    @classmethod
    def load(
        cls, session: Session, msgids: list[str], generated: Sequence[str] = ()
    ) -> _KnownMessages:
        """What is known of `msgids`, and the tombstones of the `generated` ids the
        messages would be stored under if they reuse one."""
        sent_with: dict[str, list[Message]] = {}
        removed: set[tuple[int, str]] = set()
        for chunk in _chunks(list(dict.fromkeys([*generated, *msgids]))):
            tombstones = session.execute(
                select(RemovedMessage.list_id, RemovedMessage.message_id).where(
                    RemovedMessage.message_id.in_(chunk)
                )
            )
            removed.update((list_id, msgid) for list_id, msgid in tombstones)
        for chunk in _chunks(msgids):
            for message in session.scalars(select(Message).where(Message.message_id.in_(chunk))):
                sent_with.setdefault(message.message_id, []).insert(0, message)
            rows = session.execute(
                select(MessageAlias.message_id, Message)
                .join(Message, Message.id == MessageAlias.message_pk)
                .where(MessageAlias.message_id.in_(chunk), MessageAlias.kind == AliasKind.reused)
                .order_by(Message.id)
            )
            for msgid, message in rows:
                sent_with.setdefault(msgid, []).append(message)
        stored_ids = list({m.message_id for ms in sent_with.values() for m in ms})
        nodes: dict[tuple[int, str], ThreadNode] = {}
        for chunk in _chunks(stored_ids):
            for node in session.scalars(select(ThreadNode).where(ThreadNode.message_id.in_(chunk))):
                nodes[(node.list_id, node.message_id)] = node
        return cls(sent_with, nodes, removed)

    def same_message(self, msgid: str, fingerprint: str) -> Message | None:
        """The stored message this copy is a re-delivery of, if any."""
        for message in self.sent_with.get(msgid, []):
            if self._fingerprint(message) == fingerprint:
                return message
        return None

    def is_removed(self, list_id: int, msgid: str, fingerprint: str) -> bool:
        """Whether an operator removed the Message-ID from the list, or this very
        message stored under a generated id (one that reused a Message-ID)."""
        return (list_id, msgid) in self.removed or (
            list_id,
            generated_message_id(fingerprint),
        ) in self.removed

    def is_linked(self, list_id: int, message: Message) -> bool:
        if (list_id, message) in self.linked:
            return True
        node = self.nodes.get((list_id, message.message_id))
        return node is not None and node.message_pk is not None

    def add(self, session: Session, item: IncomingMessage, fingerprint: str) -> Message:
        """A new row for a message not stored yet, under a generated id when an earlier
        different message has its Message-ID."""
        earlier = self.sent_with.setdefault(item.message_id, [])
        message = _new_message(item, fingerprint)
        if earlier:
            message.message_id = generated_message_id(fingerprint)
            self.new_aliases.append((message, item.message_id))
        earlier.append(message)
        self.fingerprints[id(message)] = fingerprint
        session.add(message)
        return message

    def add_aliases(self, session: Session) -> None:
        """The aliases of the new messages stored under a generated id (after the flush
        that gave them their ids)."""
        session.add_all(
            MessageAlias(message_pk=message.id, message_id=msgid, kind=AliasKind.reused)
            for message, msgid in self.new_aliases
        )
        session.flush()

    def _fingerprint(self, message: Message) -> str:
        found = self.fingerprints.get(id(message))
        if found is None:
            # Rows stored before fingerprints existed: computed once, and kept.
            found = message.content_hash or content_fingerprint(bytes(message.raw))
            if message.content_hash is None:
                message.content_hash = found
            self.fingerprints[id(message)] = found
        return found


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def known_on_list(session: Session, list_id: int, message_id: str, raw: bytes) -> bool:
    """Whether `store_messages` would drop this message for the list: the list has it
    already (the same message, not merely its Message-ID), or an operator removed the
    Message-ID from it. For who must not act twice on a re-delivery (holding a post)."""
    fingerprint = content_fingerprint(raw)
    known = _KnownMessages.load(session, [message_id], [generated_message_id(fingerprint)])
    if known.is_removed(list_id, message_id, fingerprint):
        return True
    message = known.same_message(message_id, fingerprint)
    return message is not None and known.is_linked(list_id, message)


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


def _new_message(item: IncomingMessage, fingerprint: str) -> Message:
    return Message(
        message_id=item.message_id,
        content_hash=fingerprint,
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


__all__ = [
    "IncomingMessage",
    "StoreResult",
    "content_fingerprint",
    "generated_message_id",
    "known_on_list",
    "store_message",
    "store_messages",
]


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
