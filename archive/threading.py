"""Incremental JWZ threading of one mailing list over a pluggable node store.

Mail arrives one message at a time and in any order, so the classic batch algorithm
(https://www.jwz.org/doc/threading.html) is run per message: each arrival links its
References chain and then itself. A node stands for one Message-ID in one list; it is a
placeholder until its message is seen. Persistence belongs to the store (the database
layer, or `MemoryStore` here for tests and benchmarks); this module holds the algorithm.

Two rules make the result independent of arrival order for consistent headers:

* a real message's parent comes only from its own headers (or the subject fallback);
  other messages' References may only place placeholders;
* when a message arrives, its own headers replace whatever parent its placeholder was
  given, and a message with no usable headers is detached (JWZ step 1C).

No link is ever made that would close a cycle, whatever the headers claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Protocol, TypeVar

N = TypeVar("N")

# One prefix of a prefix chain: "Re:", "RE :", "Re[2]:", "Aw(3):", "Fwd:"; fullwidth colon
# too, as CJK mailers send it.
_PREFIX = re.compile(r"\s*(re|fwd?|aw|sv|antw)\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a]", re.IGNORECASE)
# Prefixes that mark a reply. A forward starts a new conversation, so "Fwd:" alone does
# not invite the subject fallback.
_REPLY_WORDS = frozenset({"re", "aw", "sv", "antw"})
_SPACE = re.compile(r"\s+")


class NodeStore(Protocol[N]):
    """Where nodes live. `N` is the store's node type, opaque to the algorithm.

    Nodes are compared with `==` only: a store may hand back a fresh object for the same
    node on every call, and nodes need not be hashable.
    """

    def get(self, msgid: str) -> N | None: ...

    def get_or_create(self, msgid: str) -> N: ...

    def parent(self, node: N) -> N | None: ...

    def set_parent(self, child: N, parent: N | None) -> None: ...

    def is_placeholder(self, node: N) -> bool: ...

    def find_subject_root(self, subject_key: str) -> N | None: ...


def reference_chain(msgid: str, references: list[str], in_reply_to: list[str]) -> list[str]:
    """The ancestors to link, oldest first; the parent is the last element.

    References come first because they carry the whole ancestry in order; In-Reply-To ids
    missing from it are appended (all of them: some mailers list several), since a mailer
    that trims References still names the direct parent there. Duplicates and the message
    itself are dropped so that a broken header cannot make a node its own ancestor.
    """
    chain: list[str] = []
    seen = {msgid.strip()}
    for ref in [*references, *in_reply_to]:
        ref = ref.strip()
        if ref and ref not in seen:
            seen.add(ref)
            chain.append(ref)
    return chain


def subject_key(subject: str) -> str:
    """The subject as the fallback compares it: reply and forward prefix chains stripped,
    whitespace collapsed, casefolded, so that "RE: Aw: Re[2]:  Foo" matches "foo"."""
    rest = subject
    while match := _PREFIX.match(rest):
        rest = rest[match.end() :]
    return _SPACE.sub(" ", rest).strip().casefold()


def thread_message(
    store: NodeStore[N], msgid: str, references: list[str], in_reply_to: list[str], subject: str
) -> N:
    """Link one arriving message into its thread and return its node.

    The node may already exist as a placeholder (a reply arrived first) or not at all.
    Marking it real is the caller's business, before or after this call.
    """
    node = store.get_or_create(msgid)
    chain = [store.get_or_create(ref) for ref in reference_chain(msgid, references, in_reply_to)]
    _link_chain(store, chain)
    if chain:
        _set_parent_unless_loop(store, node, chain[-1])
        return node
    # No usable headers: any parent the placeholder was given came from someone else's
    # References, and the message itself says it starts a thread (JWZ step 1C).
    if store.parent(node) is not None:
        store.set_parent(node, None)
    if not references and not in_reply_to and _has_reply_prefix(subject):
        _attach_by_subject(store, node, subject_key(subject))
    return node


def join_namesake(store: NodeStore[N], node: N, namesake: str) -> None:
    """Thread a message that was sent with the Message-ID `namesake` of an earlier,
    different message (and is stored under a generated id) as that id: where its own
    headers did not place it, it goes beside the namesake, under its parent, or under
    the namesake itself when that starts the thread."""
    if store.parent(node) is not None:
        return
    other = store.get(namesake)
    if other is None or other == node:
        return
    target = store.parent(other) or other
    if not _would_loop(store, node, target):
        store.set_parent(node, target)


def adopt_children(store: NodeStore[N], node: N, children: Iterable[N]) -> None:
    """Move `children` under `node` (replies that arrived, under a placeholder, before
    the message that also bears that placeholder's id), except where that would loop."""
    for child in children:
        if store.parent(child) != node and not _would_loop(store, child, node):
            store.set_parent(child, node)


def root_of(store: NodeStore[N], node: N) -> N:
    """The top of `node`'s tree (a placeholder if the thread's first message is unseen)."""
    top = node
    for up in _ancestors(store, node):
        top = up
    return top


def _link_chain(store: NodeStore[N], chain: list[N]) -> None:
    """JWZ step 1B: each reference is the parent of the next, where nothing better is known.

    Only parentless placeholders are linked: a real message was placed by its own
    headers, and a placeholder that already has a parent got it from an earlier, equally
    good claim. Either way the first claim stands, which keeps arrival order irrelevant.
    """
    # A parentless child closes a cycle only if it is the root of the parent's tree. That
    # root is carried from one link to the next, so a chain of new placeholders is linked
    # without walking up the tree at each step: linear in the chain, not quadratic.
    carried: tuple[N, N] | None = None  # (a node just linked, the root of its tree)
    for parent, child in pairwise(chain):
        if store.parent(child) is None and store.is_placeholder(child):
            if carried is not None and carried[0] == parent:
                top = carried[1]
            else:
                top = root_of(store, parent)
            if top != child:
                store.set_parent(child, parent)
                carried = (child, top)
                continue
        carried = None


def _set_parent_unless_loop(store: NodeStore[N], node: N, parent: N) -> None:
    """The message's own headers win over a parent guessed from others' References,
    except when the headers contradict the tree so far (a cycle), where the tree stays."""
    if store.parent(node) != parent and not _would_loop(store, node, parent):
        store.set_parent(node, parent)


def _attach_by_subject(store: NodeStore[N], node: N, key: str) -> None:
    """Put a header-less reply under the most recent thread with the same subject,
    as the store defines it; never under itself or its own descendants."""
    if not key:
        return
    root = store.find_subject_root(key)
    if root is not None and not _would_loop(store, node, root):
        store.set_parent(node, root)


def _has_reply_prefix(subject: str) -> bool:
    """Whether the subject starts as a reply does ("Re:", "Aw:", "Sv:", "Antw:", "Re[2]:").
    Only the first prefix counts: "Fwd: Re: x" is a new message forwarding a reply."""
    match = _PREFIX.match(subject)
    return match is not None and match.group(1).casefold() in _REPLY_WORDS


def _would_loop(store: NodeStore[N], child: N, parent: N) -> bool:
    """Whether making `parent` the parent of `child` would close a cycle."""
    return parent == child or any(up == child for up in _ancestors(store, parent))


def _ancestors(store: NodeStore[N], node: N) -> Iterator[N]:
    """Yield the parents of `node` upwards, ending even if the store already holds a cycle.

    Nodes may be neither hashable nor the same object twice, so the cycle check uses `==`
    only (Brent's method: remember the node at each power-of-two step and stop on meeting
    it again). A cyclic store may yield a few nodes twice before the walk stops.
    """
    mark, steps, limit = node, 0, 1
    current = store.parent(node)
    while current is not None and current != mark:
        yield current
        steps += 1
        if steps == limit:
            mark, steps, limit = current, 0, limit * 2
        current = store.parent(current)


@dataclass(eq=False)
class MemoryNode:
    """One Message-ID in `MemoryStore`; identity is the object itself."""

    msgid: str
    placeholder: bool = True
    parent: MemoryNode | None = field(default=None, repr=False)
    children: list[MemoryNode] = field(default_factory=list, repr=False)
    subject_key: str = ""
    date: datetime | None = None


class MemoryStore:
    """A `NodeStore` in a dict, for tests, benchmarks and rebuilding threads in memory."""

    def __init__(self) -> None:
        self.nodes: dict[str, MemoryNode] = {}
        self._latest_by_subject: dict[str, MemoryNode] = {}

    def get(self, msgid: str) -> MemoryNode | None:
        return self.nodes.get(msgid)

    def get_or_create(self, msgid: str) -> MemoryNode:
        node = self.nodes.get(msgid)
        if node is None:
            node = self.nodes[msgid] = MemoryNode(msgid)
        return node

    def parent(self, node: MemoryNode) -> MemoryNode | None:
        return node.parent

    def set_parent(self, child: MemoryNode, parent: MemoryNode | None) -> None:
        if child.parent is not None:
            child.parent.children.remove(child)
        child.parent = parent
        if parent is not None:
            parent.children.append(child)

    def is_placeholder(self, node: MemoryNode) -> bool:
        return node.placeholder

    def find_subject_root(self, subject_key: str) -> MemoryNode | None:
        """Root of the thread of the most recently threaded message with this key."""
        latest = self._latest_by_subject.get(subject_key)
        return None if latest is None else root_of(self, latest)

    def add_message(
        self,
        msgid: str,
        references: list[str],
        in_reply_to: list[str],
        subject: str,
        date: datetime | None = None,
    ) -> MemoryNode:
        """Thread one message and mark its node real, as a database store would on ingest.

        The subject is recorded after threading so that the fallback looks for an
        earlier thread, not this message's own.
        """
        node = thread_message(self, msgid, references, in_reply_to, subject)
        node.placeholder = False
        node.subject_key = subject_key(subject)
        node.date = date
        if node.subject_key:
            self._latest_by_subject[node.subject_key] = node
        return node

    def roots(self) -> list[MemoryNode]:
        """Top nodes of all threads, placeholders included, in creation order."""
        return [node for node in self.nodes.values() if node.parent is None]


def thread_messages(messages: Iterable[tuple[str, list[str], list[str], str]]) -> MemoryStore:
    """Thread (msgid, references, in_reply_to, subject) tuples in arrival order."""
    store = MemoryStore()
    for msgid, references, in_reply_to, subject in messages:
        store.add_message(msgid, references, in_reply_to, subject)
    return store
