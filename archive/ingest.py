"""Ingest: turn stored raw messages into archive entries (parsed, threaded, indexed).

Called by the Celery task after intake, by `import-mbox` in bulk and by `reindex`.
Idempotent: a message already `archived` is skipped, so a task that runs twice, or a
sweep that races a late task, does no harm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, exists, func, or_, select, union, update
from sqlalchemy.orm import Session, undefer

from archive import search
from archive.headers import MAX_REFERENCES
from archive.hooks import AFTER_INGEST, RESET
from archive.models import AliasKind, Message, MessageAlias, MessageStatus, Thread, ThreadNode
from archive.parse import Address, ParsedMessage, parse_message
from archive.store import insert_ignoring_conflicts
from archive.thread_store import SqlNodeStore
from archive.threading import adopt_children, join_namesake, thread_message


def ingest_messages(session: Session, message_pks: Iterable[int]) -> int:
    """Ingest the given messages that need it; returns how many did. The caller commits.

    A message needs ingest when it was never parsed, or when it was linked to another
    list after it was (a cross-post delivered to each list separately).
    """
    pks = sorted(set(message_pks))
    if not pks:
        return 0
    _lock_threading(session)
    done = 0
    for i in range(0, len(pks), 500):
        messages = session.scalars(
            select(Message)
            .where(Message.id.in_(pks[i : i + 500]), needs_ingest())
            .options(undefer(Message.raw), undefer(Message.body))
            .order_by(Message.id)
        ).all()
        done += IngestBatch(session).run([(m, None) for m in messages])
    return done


def needs_ingest():
    """SQL condition: the message is not parsed yet, or one of its list links is not
    threaded yet."""
    unthreaded = exists().where(ThreadNode.message_pk == Message.id, ThreadNode.thread_id.is_(None))
    return or_(Message.status == MessageStatus.received, unthreaded)


class IngestBatch:
    """Ingests many messages in one transaction with few statements: list links and the
    nodes of every referenced Message-ID are loaded up front, and each touched thread's
    summary is refreshed once at the end rather than after every message."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.stores: dict[int, SqlNodeStore] = {}
        self.namesakes: dict[int, str] = {}  # message pk -> the Message-ID it reused
        self.extra_ids: dict[int, list[str]] = {}  # message pk -> its other Message-IDs

    def run(self, items: list[tuple[Message, ParsedMessage | None]]) -> int:
        """Ingest `items` (a message with its parse, or None to parse it here) in order."""
        parsed_now = []
        aliases: list[dict] = []
        for message, parsed in items:
            if message.status is MessageStatus.received:
                parsed = parsed or parse_message(message.raw)
                apply_parsed(message, parsed)
                search.index_message(self.session, message)
                message.status = MessageStatus.archived
                parsed_now.append(message.id)
                aliases += [
                    {"message_pk": message.id, "message_id": m, "kind": AliasKind.extra_header}
                    for m in parsed.extra_message_ids
                ]
        if aliases:  # a second Message-ID header: the message answers to that id too
            table = cast(Table, MessageAlias.__table__)
            self.session.execute(insert_ignoring_conflicts(self.session, table), aliases)
        for alias in aliases:
            self.extra_ids.setdefault(alias["message_pk"], []).append(alias["message_id"])
        links = self._load_links([m.id for m, _ in items], set(parsed_now))
        self.namesakes = self._load_namesakes([m.id for m, _ in items])
        self._prefetch_references([m for m, _ in items], links)
        threaded = []
        for message, _ in items:
            for node in links.get(message.id, []):
                self._thread(message, node)
                threaded.append((message, node.list_id))
        for store in self.stores.values():
            store.refresh_threads()
        for hook in AFTER_INGEST:
            hook(self.session, threaded)
        return len(items)

    def _load_links(self, pks: list[int], parsed_now: set[int]) -> dict[int, list[ThreadNode]]:
        """Each message's list links that need threading: all of them for a message
        parsed just now, only the unthreaded ones (a late cross-post) otherwise."""
        links: dict[int, list[ThreadNode]] = {}
        for node in self.session.scalars(
            select(ThreadNode).where(ThreadNode.message_pk.in_(pks)).order_by(ThreadNode.id)
        ):
            assert node.message_pk is not None  # it is one of pks
            if node.message_pk in parsed_now or node.thread_id is None:
                links.setdefault(node.message_pk, []).append(node)
                self._store(node.list_id).remember(node)
        return links

    def _load_namesakes(self, pks: list[int]) -> dict[int, str]:
        """The Message-ID each message stored under a generated id was sent with."""
        found: dict[int, str] = {}
        for i in range(0, len(pks), 500):
            rows = self.session.execute(
                select(MessageAlias.message_pk, MessageAlias.message_id).where(
                    MessageAlias.message_pk.in_(pks[i : i + 500]),
                    MessageAlias.kind == AliasKind.reused,
                )
            )
            found.update((pk, msgid) for pk, msgid in rows)
        return found

    def _prefetch_references(self, messages: list[Message], links) -> None:
        """Load, or make as placeholders, the nodes every message threaded here names,
        in a few statements per list; threading then finds them all in the cache."""
        for list_id, store in self.stores.items():
            threaded = [
                m for m in messages if any(n.list_id == list_id for n in links.get(m.id, []))
            ]
            store.prefetch(
                {ref for m in threaded for ref in (*_kept_references(m), *m.in_reply_to)},
                create=True,
            )
            store.prefetch({namesake for m in threaded for namesake in self._namesake_of(m)})

    def _namesake_of(self, message: Message) -> list[str]:
        namesake = self.namesakes.get(message.id)
        return [namesake] if namesake else []

    def _store(self, list_id: int) -> SqlNodeStore:
        store = self.stores.get(list_id)
        if store is None:
            store = self.stores[list_id] = SqlNodeStore(self.session, list_id)
        return store

    def _thread(self, message: Message, node: ThreadNode) -> None:
        node.sort_date = message.sort_date
        store = self._store(node.list_id)
        thread_message(
            store, node.message_id, _kept_references(message), message.in_reply_to, message.subject
        )
        for namesake in self._namesake_of(message):
            join_namesake(store, node, namesake)
        for extra in self.extra_ids.get(message.id, []):
            adopt_children(store, node, store.placeholder_children(extra))
        store.thread_of(node)


def _kept_references(message: Message) -> list[str]:
    """The References threading uses: the bounded tail the parser keeps, also for rows
    parsed before it kept one (thousands of ids would cost thousands of nodes)."""
    return message.references[-MAX_REFERENCES:]


def ingest_message(session: Session, message: Message, parsed: ParsedMessage | None = None) -> None:
    """Ingest one message (see IngestBatch)."""
    IngestBatch(session).run([(message, parsed)])


def apply_parsed(message: Message, parsed: ParsedMessage) -> None:
    message.subject = parsed.subject
    message.from_name = parsed.from_.name if parsed.from_ else ""
    message.from_addr = parsed.from_.addr if parsed.from_ else ""
    message.to_text = format_addresses(parsed.to)
    message.cc_text = format_addresses(parsed.cc)
    message.date = parsed.date
    message.in_reply_to = parsed.in_reply_to
    message.references = parsed.references
    message.body = parsed.body
    message.parse_problems = parsed.problems


def format_addresses(addresses: Iterable[Address]) -> str:
    """'Name <addr>, ...' with the names decoded, as pages show and search indexes them.
    Not `formataddr`: it puts a non-ASCII name back into an RFC 2047 encoded word (and
    refuses a non-ASCII address). A name with specials is quoted as `formataddr` does,
    so the text still splits into the same addresses."""
    return ", ".join(_format_address(a) for a in addresses)


def _format_address(address: Address) -> str:
    if not address.name:
        return address.addr
    name = _QUOTED_PAIR.sub(r"\\\g<0>", address.name)
    quote = '"' if _SPECIALS.search(address.name) else ""
    return f"{quote}{name}{quote} <{address.addr}>"


# RFC 5322 specials, which make a display name need quotes (email.utils uses the same).
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_QUOTED_PAIR = re.compile(r'[\\"]')  # escaped with a backslash inside the quotes


def pending_message_pks(
    session: Session, older_than: datetime | None = None, limit: int | None = None
) -> list[int]:
    """Messages stored but not ingested (their task was lost or has not run yet), oldest
    first. Two indexed lookups, not a scan: never parsed, or linked but not threaded."""
    received = select(Message.id.label("pk")).where(Message.status == MessageStatus.received)
    unthreaded = select(ThreadNode.message_pk.label("pk")).where(
        ThreadNode.thread_id.is_(None), ThreadNode.message_pk.is_not(None)
    )
    if older_than is not None:
        received = received.where(Message.received_at < older_than)
        unthreaded = unthreaded.join(Message, Message.id == ThreadNode.message_pk).where(
            Message.received_at < older_than
        )
    pending = union(received, unthreaded).subquery()
    query = select(pending.c.pk).order_by(pending.c.pk)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def reset_derived(session: Session) -> None:
    """Forget everything derived from raw messages, so that ingest can rebuild it."""
    session.execute(update(ThreadNode).values(parent_id=None, thread_id=None, sort_date=None))
    session.execute(delete(ThreadNode).where(ThreadNode.message_pk.is_(None)))
    session.execute(delete(Thread))
    session.execute(delete(MessageAlias).where(MessageAlias.kind == AliasKind.extra_header))
    search.clear_index(session)
    for hook in RESET:
        hook(session)
    session.execute(update(Message).values(status=MessageStatus.received))


def _lock_threading(session: Session) -> None:
    """Serialise threading across workers on PostgreSQL (SQLite has one writer anyway):
    two messages of one thread linked at once could otherwise split it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(THREADING_LOCK)))


THREADING_LOCK = 0x6D61696C  # 'mail', an arbitrary advisory lock key
