"""One message with thousands of References: bounded work, in statements (not time)."""

from __future__ import annotations

from sqlalchemy import func, select

from archive.headers import MAX_REFERENCES
from archive.ingest import ingest_messages
from archive.models import ThreadNode
from archive.store import store_message
from archive.thread_store import SqlNodeStore
from archive.threading import MemoryStore, thread_message
from lists.manage import create_list
from tests.archive.test_ingest import make_mail
from tests.query_count import counted_statements


def ingest_with_references(session, mlist, msgid: str, n: int) -> list[str]:
    parents = [f"ref{i}.{msgid}" for i in range(n)]
    raw = make_mail(msgid, "Re: many", parents)
    result = store_message(session, raw, msgid, [mlist.id])
    session.commit()
    with counted_statements(session.get_bind()) as statements:
        ingest_messages(session, [result.message_pk])
        session.commit()
    return statements


def test_a_message_with_5000_references_ingests_in_a_bounded_number_of_statements(session):
    mlist = create_list(session, "dev", "owner@example.com")
    session.commit()
    small = ingest_with_references(session, mlist, "small@x", 10)
    large = ingest_with_references(session, mlist, "large@x", 5000)
    # The References kept are a bounded tail, and placeholders are made in a few
    # statements, not one or two per id.
    assert len(large) <= len(small) + 10, len(large)
    assert len(large) < 60, "\n".join(large)
    nodes = session.scalar(
        select(func.count(ThreadNode.id)).where(ThreadNode.message_id.like("%large@x"))
    )
    assert nodes == MAX_REFERENCES + 1


class CountingStore(MemoryStore):
    """Counts the parent lookups the algorithm makes: its work."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    def parent(self, node):
        self.lookups += 1
        return super().parent(node)


def test_threading_a_chain_is_linear_in_its_length():
    def work(n: int) -> int:
        store = CountingStore()
        thread_message(store, "m", [f"r{i}" for i in range(n)], [], "Re: x")
        return store.lookups

    assert work(4000) <= 2 * work(2000) + 10


def test_sql_store_creates_missing_placeholders_in_one_go(session):
    mlist = create_list(session, "dev", "owner@example.com")
    session.commit()
    store = SqlNodeStore(session, mlist.id)
    with counted_statements(session.get_bind()) as statements:
        store.prefetch({f"p{i}@x" for i in range(1200)}, create=True)
    assert len(statements) <= 10
    assert all(store.get(f"p{i}@x") is not None for i in range(1200))


def test_a_row_parsed_before_the_cap_is_threaded_with_the_bounded_tail(session):
    """A message archived with 5,000 References (before they were cut) and then linked
    to another list is threaded there with the last MAX_REFERENCES of them."""
    from archive.models import Message

    alpha = create_list(session, "alpha", "owner@example.com")
    beta = create_list(session, "beta", "owner@example.com")
    session.commit()
    raw = make_mail("old@x", "Re: old", [f"o{i}@x" for i in range(3)])
    first = store_message(session, raw, "old@x", [alpha.id])
    ingest_messages(session, [first.message_pk])
    message = session.get(Message, first.message_pk)
    message.references = [f"o{i}@x" for i in range(5000)]  # as an old parse kept them
    session.commit()
    store_message(session, raw, "old@x", [beta.id])
    with counted_statements(session.get_bind()) as statements:
        ingest_messages(session, [first.message_pk])
        session.commit()
    assert len(statements) < 60
    nodes = session.scalar(select(func.count(ThreadNode.id)).where(ThreadNode.list_id == beta.id))
    assert nodes == MAX_REFERENCES + 2  # the tail, its In-Reply-To o2@x, itself
