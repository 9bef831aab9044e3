"""Store and ingest through the database: threads, duplicates, re-attachment, reindex."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from archive.importer import import_messages, reindex
from archive.ingest import ingest_messages
from archive.models import Message, MessageStatus, Thread, ThreadNode
from archive.search import search_messages
from archive.store import store_message
from lists.manage import create_list
from tests import corpus


def make_mail(msgid: str, subject: str, parents: list[str] = (), body: str = "hello\n") -> bytes:
    refs = ""
    if parents:
        refs = f"In-Reply-To: <{parents[-1]}>\nReferences: {' '.join(f'<{p}>' for p in parents)}\n"
    return (
        f"From: Ada <ada@example.com>\nTo: dev@lists.example.org\nSubject: {subject}\n"
        f"Date: Mon, 02 Mar 2026 10:00:00 +0000\nMessage-ID: <{msgid}>\n{refs}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


def deliver(session, mlist, raw: bytes, msgid: str):
    result = store_message(session, raw, msgid, [mlist.id])
    if result.message_pk:
        ingest_messages(session, [result.message_pk])
    session.commit()
    return result


def thread_ids(session, mlist) -> dict[str, int]:
    rows = session.execute(
        select(ThreadNode.message_id, ThreadNode.thread_id).where(ThreadNode.list_id == mlist.id)
    )
    return dict(rows.all())


def test_reply_before_parent_joins_one_thread_when_parent_arrives(session):
    mlist = create_list(session, "dev", "owner@example.com")
    deliver(session, mlist, make_mail("c@x", "Re: Re: topic", ["a@x", "b@x"]), "c@x")
    deliver(session, mlist, make_mail("a@x", "topic"), "a@x")
    ids = thread_ids(session, mlist)
    assert ids["c@x"] == ids["a@x"] == ids["b@x"]
    deliver(session, mlist, make_mail("b@x", "Re: topic", ["a@x"]), "b@x")
    ids = thread_ids(session, mlist)
    assert len(set(ids.values())) == 1
    thread = session.scalar(select(Thread))
    assert thread.message_count == 3
    assert thread.subject == "topic"
    root = session.get(ThreadNode, thread.root_node_id)
    assert root.message_id == "a@x"
    assert session.scalar(select(func.count(Thread.id))) == 1


def test_duplicate_message_id_is_dropped_once(session):
    mlist = create_list(session, "dev", "owner@example.com")
    first = deliver(session, mlist, make_mail("d@x", "once"), "d@x")
    second = deliver(session, mlist, make_mail("d@x", "once"), "d@x")
    assert first.message_pk and second.dropped
    assert session.scalar(select(func.count(Message.id))) == 1


def test_cross_post_is_stored_once_and_linked_to_both_lists(session):
    a = create_list(session, "alpha", "owner@example.com")
    b = create_list(session, "beta", "owner@example.com")
    result = store_message(session, make_mail("x@x", "both"), "x@x", [a.id, b.id])
    ingest_messages(session, [result.message_pk])
    session.commit()
    assert session.scalar(select(func.count(Message.id))) == 1
    assert session.scalar(select(func.count(ThreadNode.id))) == 2
    assert session.scalar(select(func.count(Thread.id))) == 2


@pytest.mark.slow
def test_small_corpus_threads_match_ground_truth_and_reindex_rebuilds_them(session):
    truth = corpus.truth("small")
    mlist = create_list(session, "pytest-dev", "owner@example.com")
    report = import_messages(session, mlist, corpus.generated_messages("small"))
    assert report.messages == 2000
    assert report.duplicates == truth["counts"]["by_kind"]["duplicate"]
    expected_threads = Counter(
        m["thread_root"] for m in truth["messages"] if m["kind"] != "duplicate"
    )
    counts = sorted(session.scalars(select(Thread.message_count)))
    assert counts == sorted(expected_threads.values())
    assert (
        session.scalar(
            select(func.count(Message.id)).where(Message.status != MessageStatus.archived)
        )
        == 0
    )

    before = thread_ids(session, mlist)
    reindex(session)
    after = thread_ids(session, mlist)
    # Same partition of messages into threads (thread ids themselves are new).
    group = lambda ids: sorted(sorted(k for k in ids if ids[k] == t) for t in set(ids.values()))  # noqa: E731
    assert group(before) == group(after)
    assert search_messages(session, [mlist.id], "s:fixture", limit=5)


def test_cross_post_delivered_separately_is_threaded_in_the_second_list(session):
    a = create_list(session, "alpha", "owner@example.com")
    b = create_list(session, "beta", "owner@example.com")
    deliver(session, a, make_mail("y@x", "to both"), "y@x")
    second = deliver(session, b, make_mail("y@x", "to both"), "y@x")
    assert second.new_list_ids == [b.id]
    nodes = session.scalars(select(ThreadNode).where(ThreadNode.message_id == "y@x")).all()
    assert len(nodes) == 2 and all(n.thread_id for n in nodes)
    assert session.scalar(select(func.count(Message.id))) == 1


def test_pending_messages_are_the_unparsed_and_the_unthreaded_oldest_first(session):
    from archive.ingest import pending_message_pks

    a = create_list(session, "alpha", "owner@example.com")
    b = create_list(session, "beta", "owner@example.com")
    done = deliver(session, a, make_mail("p1@x", "one"), "p1@x").message_pk
    waiting = store_message(session, make_mail("p2@x", "two"), "p2@x", [a.id]).message_pk
    # A cross-post arriving later for another list leaves the archived message unthreaded
    # there until ingest runs again.
    store_message(session, make_mail("p1@x", "one"), "p1@x", [b.id])
    session.commit()
    assert pending_message_pks(session) == [done, waiting]
    assert pending_message_pks(session, limit=1) == [done]
    assert ingest_messages(session, pending_message_pks(session)) == 2
    session.commit()
    assert pending_message_pks(session) == []


def test_linking_fills_a_placeholder_made_behind_the_stores_back(session, settings):
    """Ingest in another process may create a placeholder between intake's read and its
    write; the link then fills that placeholder in instead of failing on the unique key."""
    from archive.store import link_nodes
    from archive.thread_store import SqlNodeStore
    from core.db import new_session

    mlist = create_list(session, "dev", "owner@example.com")
    session.commit()
    message = store_message(session, make_mail("r@x", "racing"), "r@x", [mlist.id])
    session.commit()
    other = new_session(settings)
    SqlNodeStore(other, mlist.id).get_or_create("late@x")
    other.commit()
    other.close()
    link_nodes(session, [(mlist.id, "late@x", message.message_pk)])
    session.commit()
    node = session.scalar(select(ThreadNode).where(ThreadNode.message_id == "late@x"))
    assert node.message_pk == message.message_pk
