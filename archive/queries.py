"""Read-only queries behind the web archive: lists, thread listings, threads, feeds.

Each page of the archive should cost a handful of indexed queries whatever the size of
the archive, so every function here does a bounded amount of work: listings use keyset
pagination on an indexed column, a thread is loaded in one query (bodies, which are
large, only for the messages a page shows), raw bytes are fetched in batches while a
download streams. Functions take a Session and never write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload, undefer

from archive.models import (
    MailingList,
    Message,
    MessageAlias,
    MessageStatus,
    Thread,
    ThreadNode,
)

# Sorts before every real date, for placeholders that have none.
_NO_DATE = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ListSummary:
    """One row of the front page."""

    name: str
    description: str
    thread_count: int
    last_activity: datetime | None


@dataclass(frozen=True)
class ThreadSummary:
    """One row of a thread listing."""

    id: int
    list_name: str
    subject: str
    last_activity: datetime
    message_count: int
    root_msgid: str | None  # the first message, or the earliest received if it never was
    root_author: str

    @property
    def replies(self) -> int:
        return max(self.message_count - 1, 0)


@dataclass(frozen=True)
class MessageSummary:
    """What a listing of messages (search results, a feed) shows of each."""

    id: int
    message_id: str
    subject: str
    from_name: str
    from_addr: str
    date: datetime | None
    received_at: datetime
    list_name: str

    @property
    def sort_date(self) -> datetime:
        return self.date or self.received_at


@dataclass
class ThreadEntry:
    """A node of a thread as a page shows it; `message` is None for a placeholder (a
    message others replied to that the list never received)."""

    node: ThreadNode
    message: Message | None
    depth: int = 0


def list_page(
    session: Session,
    after: str | None = None,
    limit: int = 200,
    list_ids: Collection[int] | None = None,
) -> list[ListSummary]:
    """Lists by name, `limit` of them after the name `after`, among `list_ids` (None:
    every list).

    Counts and dates are correlated subqueries over ix_threads_list_activity, one index
    range per list shown, instead of a GROUP BY over every thread of the archive.
    """
    count = select(func.count(Thread.id)).where(Thread.list_id == MailingList.id).scalar_subquery()
    last = (
        select(func.max(Thread.last_activity))
        .where(Thread.list_id == MailingList.id)
        .scalar_subquery()
    )
    query = select(MailingList.name, MailingList.description, count, last).order_by(
        MailingList.name
    )
    if after:
        query = query.where(MailingList.name > after)
    if list_ids is not None:
        query = query.where(MailingList.id.in_(sorted(list_ids)))
    return [ListSummary(*row) for row in session.execute(query.limit(limit))]


def recent_threads(
    session: Session,
    list_ids: list[int] | None,
    before: tuple[datetime, int | None] | None = None,
    limit: int = 50,
) -> list[ThreadSummary]:
    """Threads with the newest activity first, in `list_ids` (None: every list).

    `before` is the keyset of the page: threads whose last activity is older than the
    datetime, or equal to it with a smaller thread id when an id is given (the id breaks
    ties between threads last active in the same instant, so no thread is skipped).
    """
    # The page's thread ids first, so that joins run for `limit` rows, not for every
    # thread sorted (across all lists no index serves the order).
    page = (
        select(Thread.id)
        .where(Thread.last_activity.is_not(None), Thread.message_count > 0)
        .order_by(Thread.last_activity.desc(), Thread.id.desc())
        .limit(limit)
    )
    if list_ids is not None:
        page = page.where(Thread.list_id.in_(list_ids))
    if before is not None:
        when, thread_id = before
        if thread_id is None:
            page = page.where(Thread.last_activity < when)
        else:
            page = page.where(
                or_(
                    Thread.last_activity < when,
                    and_(Thread.last_activity == when, Thread.id < thread_id),
                )
            )
    page_ids = page.subquery()
    root = ThreadNode.__table__.alias("root")
    query = (
        select(
            Thread.id,
            MailingList.name,
            Thread.subject,
            Thread.last_activity,
            Thread.message_count,
            root.c.message_id,
            root.c.message_pk,
            Message.from_name,
            Message.from_addr,
        )
        .join(page_ids, page_ids.c.id == Thread.id)
        .join(MailingList, MailingList.id == Thread.list_id)
        .outerjoin(root, root.c.id == Thread.root_node_id)
        .outerjoin(Message, Message.id == root.c.message_pk)
        .order_by(Thread.last_activity.desc(), Thread.id.desc())
    )
    rows = session.execute(query).all()
    # A thread whose first message never arrived is shown by its earliest message.
    stand_ins = _earliest_messages(session, [r[0] for r in rows if r[6] is None])
    summaries = []
    for tid, list_name, subject, last, count, root_msgid, root_pk, from_name, from_addr in rows:
        if root_pk is None:
            root_msgid, from_name, from_addr = stand_ins.get(tid, (None, "", ""))
        summary = ThreadSummary(
            id=tid,
            list_name=list_name,
            subject=subject,
            last_activity=last,
            message_count=count,
            root_msgid=root_msgid,
            root_author=from_name or from_addr,
        )
        summaries.append(summary)
    return summaries


def _earliest_messages(session: Session, thread_ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """Message-ID, sender name and address of the earliest message of each thread."""
    if not thread_ids:
        return {}
    found: dict[int, tuple[str, str, str]] = {}
    rows = session.execute(
        select(ThreadNode.thread_id, Message.message_id, Message.from_name, Message.from_addr)
        .join(Message, Message.id == ThreadNode.message_pk)
        .where(ThreadNode.thread_id.in_(thread_ids))
        .order_by(ThreadNode.sort_date.desc(), ThreadNode.id.desc())
    )
    for thread_id, msgid, name, addr in rows:
        assert thread_id is not None  # it is one of thread_ids
        found[thread_id] = (msgid, name, addr)  # the last row written is the earliest
    return found


def answers_to(msgid: str):
    """SQL condition: the message is stored under `msgid`, or answers to it as an alias
    (sent with an id an earlier message has, or a second Message-ID header)."""
    aliased = select(MessageAlias.message_pk).where(MessageAlias.message_id == msgid)
    return or_(Message.message_id == msgid, Message.id.in_(aliased))


def find_node(session: Session, list_id: int, msgid: str) -> ThreadNode | None:
    """The node of a received message in a list (its message loaded, body deferred): the
    one stored under `msgid`, else the first that answers to it as an alias."""
    node = session.scalar(
        select(ThreadNode)
        .where(
            ThreadNode.list_id == list_id,
            ThreadNode.message_id == msgid,
            ThreadNode.message_pk.is_not(None),
        )
        .options(joinedload(ThreadNode.message))
    )
    if node is not None:
        return node
    return session.scalar(
        select(ThreadNode)
        .join(MessageAlias, MessageAlias.message_pk == ThreadNode.message_pk)
        .where(ThreadNode.list_id == list_id, MessageAlias.message_id == msgid)
        .order_by(ThreadNode.message_pk)
        .limit(1)
        .options(joinedload(ThreadNode.message))
    )


def namesakes(session: Session, list_id: int, msgid: str, shown: int) -> list[Message]:
    """The other messages of a list that answer to `msgid` besides message `shown`
    (different messages sent with one Message-ID), oldest first: its page shows them
    all, as public-inbox does."""
    return list(
        session.scalars(
            select(Message)
            .join(ThreadNode, ThreadNode.message_pk == Message.id)
            .where(ThreadNode.list_id == list_id, answers_to(msgid), Message.id != shown)
            .order_by(Message.id)
            .options(undefer(Message.body))
        )
    )


def find_node_anywhere(
    session: Session, msgid: str, list_ids: Collection[int] | None = None
) -> tuple[ThreadNode, str] | None:
    """The node of a received message in whichever list of `list_ids` (None: any) has
    it (the first by name when it was cross-posted), with that list's name; for
    /all/<msgid>/, where `list_ids` are the lists the reader may browse."""
    query = (
        select(ThreadNode, MailingList.name)
        .join(Message, Message.id == ThreadNode.message_pk)
        .join(MailingList, MailingList.id == ThreadNode.list_id)
        .where(answers_to(msgid))
        .order_by(MailingList.name, (Message.message_id == msgid).desc(), Message.id)
        .limit(1)
        .options(joinedload(ThreadNode.message))
    )
    if list_ids is not None:
        query = query.where(ThreadNode.list_id.in_(sorted(list_ids)))
    row = session.execute(query).first()
    return None if row is None else (row[0], row[1])


def lists_having(
    session: Session, msgid: str, list_ids: Collection[int] | None = None
) -> list[str]:
    """Names of the lists among `list_ids` (None: any) that have received the message,
    for a helpful 404; the web passes the lists the reader may browse, so a private
    list's name never shows."""
    query = (
        select(MailingList.name)
        .join(ThreadNode, ThreadNode.list_id == MailingList.id)
        .join(Message, Message.id == ThreadNode.message_pk)
        .where(answers_to(msgid))
        .distinct()
        .order_by(MailingList.name)
    )
    if list_ids is not None:
        query = query.where(MailingList.id.in_(sorted(list_ids)))
    return list(session.scalars(query))


def message_in_list(session: Session, list_id: int, msgid: str) -> bool:
    """Whether the list has received the message with this Message-ID (one index probe,
    uq_thread_nodes_list_msgid)."""
    return list_has_any_message(session, list_id, [msgid])


def list_has_any_message(session: Session, list_id: int, msgids: Iterable[str]) -> bool:
    """Whether the list has received any of these messages: for the `reply` right, a
    post whose In-Reply-To or References name one is in a thread the list already has
    (stored is enough: the store links a message to its list before ingest)."""
    wanted = sorted({m for m in msgids if m})
    if not wanted:
        return False
    found = session.scalar(
        select(ThreadNode.id)
        .where(
            ThreadNode.list_id == list_id,
            ThreadNode.message_id.in_(wanted),
            ThreadNode.message_pk.is_not(None),
        )
        .limit(1)
    )
    if found is None:  # or one that answers to an id as an alias (ingested, then)
        found = session.scalar(
            select(ThreadNode.id)
            .join(MessageAlias, MessageAlias.message_pk == ThreadNode.message_pk)
            .where(ThreadNode.list_id == list_id, MessageAlias.message_id.in_(wanted))
            .limit(1)
        )
    return found is not None


def raw_message(
    session: Session, list_ids: Collection[int] | None, msgid: str
) -> tuple[bytes, str] | None:
    """Raw bytes and decoded subject of a message in one of `list_ids` (None: any list),
    in one query: /raw is the hottest URL b4 and scrapers hit. The message stored under
    `msgid` comes first; else the first that answers to it as an alias."""
    in_list = exists().where(ThreadNode.message_pk == Message.id)
    if list_ids is not None:
        in_list = in_list.where(ThreadNode.list_id.in_(sorted(list_ids)))
    query = (
        select(Message.raw, Message.subject)
        .where(answers_to(msgid), in_list)
        .order_by((Message.message_id == msgid).desc(), Message.id)
    )
    row = session.execute(query.limit(1)).first()
    return None if row is None else (row[0], row[1])


def thread_entries(session: Session, node: ThreadNode) -> list[ThreadEntry]:
    """Every node of `node`'s thread, in tree order with depths, in one query.

    Bodies stay deferred: a page loads them with `message_bodies` for the messages it
    shows. A message not threaded yet (still being ingested) is a thread of its own.
    """
    if node.thread_id is None:
        return [ThreadEntry(node, node.message, 0)]
    rows = session.execute(
        select(ThreadNode, Message)
        .outerjoin(Message, Message.id == ThreadNode.message_pk)
        .where(ThreadNode.thread_id == node.thread_id)
    ).all()
    return tree_order([ThreadEntry(n, m) for n, m in rows])


def tree_order(entries: list[ThreadEntry]) -> list[ThreadEntry]:
    """`entries` depth first, siblings by date, with `depth` set.

    Placeholders with nothing below them are dropped (only references to them were
    seen); placeholders with replies stay, so the replies keep their place. A cycle,
    which threading never makes but old data might hold, cannot loop: its nodes come
    out once, at the top level.
    """
    by_id = {e.node.id: e for e in entries}
    children: dict[int, list[ThreadEntry]] = defaultdict(list)
    roots: list[ThreadEntry] = []
    for e in entries:
        parent = e.node.parent_id
        if parent is not None and parent in by_id and parent != e.node.id:
            children[parent].append(e)
        else:
            roots.append(e)
    ordered: list[ThreadEntry] = []
    seen: set[int] = set()

    def walk(tops: list[ThreadEntry]) -> None:
        stack = [(e, 0) for e in sorted(tops, key=_date_key, reverse=True)]
        while stack:
            entry, depth = stack.pop()
            if entry.node.id in seen:
                continue
            seen.add(entry.node.id)
            kids = children.get(entry.node.id, [])
            if entry.message is None and not kids:
                continue
            entry.depth = depth
            ordered.append(entry)
            stack.extend((k, depth + 1) for k in sorted(kids, key=_date_key, reverse=True))

    walk(roots)
    walk([e for e in entries if e.node.id not in seen])  # members of a cycle
    return ordered


def date_order(entries: Iterable[ThreadEntry]) -> list[ThreadEntry]:
    """The received messages of `entries`, oldest first (the flat /T/ view)."""
    return sorted((e for e in entries if e.message is not None), key=_date_key)


def message_bodies(session: Session, message_pks: list[int]) -> dict[int, str]:
    """Bodies of the given messages, by pk, in one query."""
    if not message_pks:
        return {}
    rows = session.execute(select(Message.id, Message.body).where(Message.id.in_(message_pks)))
    return {pk: body or "" for pk, body in rows}


def thread_message_pks(session: Session, thread_id: int | None, node: ThreadNode) -> list[int]:
    """The received messages of a thread, oldest first: what t.mbox.gz holds."""
    if thread_id is None:
        return [node.message_pk] if node.message_pk is not None else []
    return list(
        session.scalars(
            select(ThreadNode.message_pk)
            .where(ThreadNode.thread_id == thread_id, ThreadNode.message_pk.is_not(None))
            .order_by(ThreadNode.sort_date, ThreadNode.id)
        )
    )


def raw_messages(session: Session, message_pks: list[int], batch: int = 50) -> Iterator[bytes]:
    """Raw bytes of the messages in the order given, fetched `batch` at a time so that a
    long download never holds more than one batch in memory."""
    for i in range(0, len(message_pks), batch):
        chunk = message_pks[i : i + batch]
        rows = session.execute(select(Message.id, Message.raw).where(Message.id.in_(chunk)))
        raws = {pk: raw for pk, raw in rows}
        for pk in chunk:
            if pk in raws:
                yield raws[pk]


def latest_message_pks(session: Session, list_ids: list[int] | None, limit: int = 25) -> list[int]:
    """The newest archived messages by arrival, for new.atom: a feed reader wants what is
    new, whatever Date the sender wrote (ix_messages_status_received serves the order)."""
    query = (
        select(Message.id)
        .where(Message.status == MessageStatus.archived)
        .order_by(Message.received_at.desc(), Message.id.desc())
        .limit(limit)
    )
    if list_ids is not None:
        query = query.where(
            exists().where(ThreadNode.message_pk == Message.id, ThreadNode.list_id.in_(list_ids))
        )
    return list(session.scalars(query))


def newest_messages(session: Session, list_id: int, limit: int) -> list[tuple]:
    """(date, Message-ID, subject, from name, from address) of the list's newest
    messages, newest first (ix_thread_nodes_list_date serves it)."""
    rows = session.execute(
        select(
            ThreadNode.sort_date,
            Message.message_id,
            Message.subject,
            Message.from_name,
            Message.from_addr,
        )
        .join(Message, Message.id == ThreadNode.message_pk)
        .where(ThreadNode.list_id == list_id, ThreadNode.sort_date.isnot(None))
        .order_by(ThreadNode.sort_date.desc())
        .limit(limit)
    )
    return [tuple(row) for row in rows]


def message_summaries(
    session: Session, message_pks: list[int], list_ids: list[int] | None
) -> list[MessageSummary]:
    """The messages in the order given, each with the name of a list in `list_ids`
    (None: any) that has it, the first by name; for search results and feeds.

    The list filter is applied here, not in SQL, so the database looks the nodes up by
    message (ix_thread_nodes_message_pk) rather than walking every node of the list.
    """
    if not message_pks:
        return []
    wanted = None if list_ids is None else set(list_ids)
    names: dict[int, str] = {}
    for pk, list_id, name in session.execute(
        select(ThreadNode.message_pk, ThreadNode.list_id, MailingList.name)
        .join(MailingList, MailingList.id == ThreadNode.list_id)
        .where(ThreadNode.message_pk.in_(message_pks))
    ):
        assert pk is not None  # it is one of message_pks
        if (wanted is None or list_id in wanted) and (pk not in names or name < names[pk]):
            names[pk] = name
    rows = session.execute(
        select(
            Message.id,
            Message.message_id,
            Message.subject,
            Message.from_name,
            Message.from_addr,
            Message.date,
            Message.received_at,
        ).where(Message.id.in_(list(names)))
    )
    found = {row[0]: MessageSummary(*row, list_name=names[row[0]]) for row in rows}
    return [found[pk] for pk in message_pks if pk in found]


def expand_to_threads(
    session: Session, message_pks: list[int], list_ids: list[int] | None
) -> list[int]:
    """Every message of the threads the given messages are in, in two queries: threads
    in the order their first message appears in `message_pks`, each oldest first.
    A message not threaded yet stands for itself. For POST ?q=...&t=1 (b4, lei)."""
    if not message_pks:
        return []
    wanted = None if list_ids is None else set(list_ids)
    threads_of: dict[int, list[int]] = defaultdict(list)
    for pk, list_id, thread_id in session.execute(
        select(ThreadNode.message_pk, ThreadNode.list_id, ThreadNode.thread_id).where(
            ThreadNode.message_pk.in_(message_pks)
        )
    ):
        assert pk is not None  # it is one of message_pks
        if thread_id is not None and (wanted is None or list_id in wanted):
            threads_of[pk].append(thread_id)
    thread_order = list(dict.fromkeys(t for pk in message_pks for t in threads_of.get(pk, [])))
    members: dict[int, list[int]] = defaultdict(list)
    if thread_order:
        rows = session.execute(
            select(ThreadNode.thread_id, ThreadNode.message_pk)
            .where(ThreadNode.thread_id.in_(thread_order), ThreadNode.message_pk.is_not(None))
            .order_by(ThreadNode.sort_date, ThreadNode.id)
        )
        for thread_id, pk in rows:
            assert thread_id is not None and pk is not None  # the query asks for both
            members[thread_id].append(pk)
    out: dict[int, None] = {}
    for pk in message_pks:
        if pk not in threads_of:
            out.setdefault(pk)
        for thread_id in threads_of.get(pk, []):
            for member in members.pop(thread_id, []):
                out.setdefault(member)
    return list(out)


def _date_key(entry: ThreadEntry) -> tuple[datetime, int]:
    when = entry.node.sort_date
    if when is None and entry.message is not None:
        when = entry.message.sort_date
    return (when or _NO_DATE, entry.node.id)
