"""The database side of threading: `archive.threading` links nodes, this keeps them.

`SqlNodeStore` implements the NodeStore protocol for one list and keeps each node's
`thread_id` pointing at the Thread row of its tree: attaching a root merges its thread
into the parent's, moving a subtree moves its nodes. Thread summaries (subject, counts,
dates) of the threads touched are refreshed once per ingested message.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from archive.models import AliasKind, Message, MessageAlias, Thread, ThreadNode
from archive.store import insert_ignoring_conflicts
from archive.threading import subject_key


class SqlNodeStore:
    def __init__(self, session: Session, list_id: int) -> None:
        self.session = session
        self.list_id = list_id
        self._cache: dict[str, ThreadNode] = {}
        self._missing: set[str] = set()  # Message-IDs known to have no node yet
        self.touched_threads: set[int] = set()

    def remember(self, node: ThreadNode) -> None:
        """Cache a node loaded elsewhere, so lookups by Message-ID find this object."""
        self._cache[node.message_id] = node

    def prefetch(self, msgids: set[str], create: bool = False) -> None:
        """Load the nodes of `msgids` in a few queries; remember which have none, or with
        `create` make the missing ones as placeholders, in one statement (a message
        naming a hundred unseen ancestors costs a few statements, not two hundred)."""
        wanted = [m for m in msgids if m not in self._cache]
        self._load(wanted)
        self._resolve_aliases([m for m in wanted if self.is_placeholder_or_missing(m)])
        self._missing.update(m for m in wanted if m not in self._cache)
        if create:
            missing = sorted(m for m in wanted if m not in self._cache)  # aliases resolved
            if missing:
                self.session.execute(
                    insert_ignoring_conflicts(self.session, ThreadNode.__table__),
                    [{"list_id": self.list_id, "message_id": m} for m in missing],
                )
                self._missing.difference_update(missing)
                self._load(missing)

    def is_placeholder_or_missing(self, msgid: str) -> bool:
        node = self._cache.get(msgid)
        return node is None or node.message_pk is None

    def _resolve_aliases(self, msgids: list[str]) -> None:
        """An id no message of the list is stored under, but one answers to as its
        second Message-ID header, stands for that message's node: a real message beats
        a placeholder, and replies to either of its ids thread under it."""
        for i in range(0, len(msgids), 500):
            found = self.session.execute(
                select(MessageAlias.message_id, ThreadNode)
                .join(ThreadNode, ThreadNode.message_pk == MessageAlias.message_pk)
                .where(
                    ThreadNode.list_id == self.list_id,
                    MessageAlias.message_id.in_(msgids[i : i + 500]),
                    MessageAlias.kind == AliasKind.extra_header,
                )
            )
            for alias, node in found:
                self._cache[alias] = node

    def placeholder_children(self, msgid: str) -> list[ThreadNode]:
        """The nodes hanging under the placeholder of `msgid`, if there is one."""
        placeholder = self.session.scalar(
            select(ThreadNode.id).where(
                ThreadNode.list_id == self.list_id,
                ThreadNode.message_id == msgid,
                ThreadNode.message_pk.is_(None),
            )
        )
        if placeholder is None:
            return []
        self.session.flush()
        return list(
            self.session.scalars(select(ThreadNode).where(ThreadNode.parent_id == placeholder))
        )

    def _load(self, msgids: list[str]) -> None:
        for i in range(0, len(msgids), 500):
            found = self.session.scalars(
                select(ThreadNode).where(
                    ThreadNode.list_id == self.list_id,
                    ThreadNode.message_id.in_(msgids[i : i + 500]),
                )
            )
            for node in found:
                self._cache[node.message_id] = node

    # -- NodeStore protocol -------------------------------------------------------

    def get(self, msgid: str) -> ThreadNode | None:
        node = self._cache.get(msgid)
        if node is None and msgid not in self._missing:
            node = self.session.scalar(
                select(ThreadNode).where(
                    ThreadNode.list_id == self.list_id, ThreadNode.message_id == msgid
                )
            )
            if node is not None:
                self._cache[msgid] = node
        return node

    def get_or_create(self, msgid: str) -> ThreadNode:
        node = self.get(msgid)
        if node is None:
            # Intake in another process may be storing this very Message-ID: insert only
            # if absent, then read back whichever row won.
            self.session.execute(
                insert_ignoring_conflicts(self.session, ThreadNode.__table__),
                [{"list_id": self.list_id, "message_id": msgid}],
            )
            self._missing.discard(msgid)
            node = self.get(msgid)
            assert node is not None
        return node

    def parent(self, node: ThreadNode) -> ThreadNode | None:
        if node.parent_id is None:
            return None
        return self.session.get(ThreadNode, node.parent_id)

    def is_placeholder(self, node: ThreadNode) -> bool:
        return node.message_pk is None

    def find_subject_root(self, subject_key: str) -> ThreadNode | None:
        if not subject_key:
            return None
        thread = self.session.scalar(
            select(Thread)
            .where(Thread.list_id == self.list_id, Thread.subject_key == subject_key[:255])
            .order_by(Thread.last_activity.desc())
            .limit(1)
        )
        if thread is None or thread.root_node_id is None:
            return None
        return self.session.get(ThreadNode, thread.root_node_id)

    def set_parent(self, child: ThreadNode, parent: ThreadNode | None) -> None:
        was_root = child.parent_id is None
        old_thread = child.thread_id
        if parent is None:
            child.parent_id = None
            if old_thread is not None and not was_root:
                self._move_subtree(child, self._new_thread(child))
            return
        new_thread = self.thread_of(parent)
        child.parent_id = parent.id
        if old_thread is None:
            child.thread_id = new_thread
        elif old_thread != new_thread:
            if was_root:
                self._merge_thread(old_thread, new_thread)
            else:
                self._move_subtree(child, new_thread)
                self.touched_threads.add(old_thread)
        self.touched_threads.add(new_thread)

    # -- thread bookkeeping --------------------------------------------------------

    def thread_of(self, node: ThreadNode) -> int:
        """The thread id of `node`'s tree, creating the thread when `node` is a new root."""
        if node.thread_id is None:
            root = node
            seen = {node.id}
            while root.parent_id is not None and root.parent_id not in seen:
                parent = self.session.get(ThreadNode, root.parent_id)
                assert parent is not None  # parent_id is a foreign key (SET NULL on delete)
                root = parent
                seen.add(root.id)
                if root.thread_id is not None:
                    break
            node.thread_id = root.thread_id or self._new_thread(root)
        self.touched_threads.add(node.thread_id)
        return node.thread_id

    def _new_thread(self, root: ThreadNode) -> int:
        thread = Thread(list_id=self.list_id, root_node_id=root.id)
        self.session.add(thread)
        self.session.flush()
        root.thread_id = thread.id
        self.touched_threads.add(thread.id)
        return thread.id

    def _merge_thread(self, old: int, new: int) -> None:
        self.session.flush()
        self.session.execute(
            update(ThreadNode)
            .where(ThreadNode.thread_id == old)
            .values(thread_id=new)
            .execution_options(synchronize_session="fetch")
        )
        # A mapped class's __table__ is typed as any FromClause; Thread's is its Table.
        self.session.execute(cast(Table, Thread.__table__).delete().where(Thread.id == old))
        self.touched_threads.discard(old)

    def _move_subtree(self, top: ThreadNode, thread_id: int) -> None:
        self.session.flush()
        frontier = [top.id]
        top.thread_id = thread_id
        while frontier:
            children = list(
                self.session.scalars(select(ThreadNode).where(ThreadNode.parent_id.in_(frontier)))
            )
            for c in children:
                c.thread_id = thread_id
            frontier = [c.id for c in children]

    def refresh_threads(self) -> None:
        """Recompute subject, dates, root and message count of every thread touched."""
        self.session.flush()
        for thread_id in sorted(self.touched_threads):
            thread = self.session.get(Thread, thread_id)
            if thread is None:
                continue
            count, first, last = self.session.execute(
                select(
                    func.count(ThreadNode.message_pk),
                    func.min(ThreadNode.sort_date),
                    func.max(ThreadNode.sort_date),
                ).where(ThreadNode.thread_id == thread_id)
            ).one()
            thread.message_count = count
            thread.started_at = first
            thread.last_activity = last
            root = self.session.scalar(
                select(ThreadNode)
                .where(ThreadNode.thread_id == thread_id, ThreadNode.parent_id.is_(None))
                .limit(1)
            )
            if root is not None:
                thread.root_node_id = root.id
            # The subject of the root message, else of the earliest message we have.
            subject = self.session.scalar(
                select(Message.subject)
                .join(ThreadNode, ThreadNode.message_pk == Message.id)
                .where(ThreadNode.thread_id == thread_id)
                .order_by((ThreadNode.parent_id.is_(None)).desc(), ThreadNode.sort_date)
                .limit(1)
            )
            thread.subject = subject or ""
            thread.subject_key = subject_key(thread.subject)[:255]
        self.touched_threads.clear()
