"""A Message-ID used by two different messages: both kept, a re-delivery still dropped."""

from __future__ import annotations

from sqlalchemy import func, select

from archive.importer import import_messages, reindex
from archive.models import AliasKind, Message, MessageAlias, ThreadNode
from archive.store import IncomingMessage, content_fingerprint, generated_message_id, store_messages
from lists.manage import create_list
from tests.archive.test_ingest import deliver, make_mail, thread_ids


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_a_different_message_with_a_known_message_id_is_kept_under_a_generated_id(session):
    mlist = create_list(session, "dev", "owner@example.com")
    first = deliver(session, mlist, make_mail("d@x", "once"), "d@x")
    other_raw = make_mail("d@x", "a different one", body="other text\n")
    second = deliver(session, mlist, other_raw, "d@x")
    assert first.message_pk and second.message_pk and second.message_pk != first.message_pk
    other = session.get(Message, second.message_pk)
    assert other.message_id == generated_message_id(content_fingerprint(other_raw))
    alias = session.scalar(select(MessageAlias).where(MessageAlias.message_pk == other.id))
    assert (alias.message_id, alias.kind) == ("d@x", AliasKind.reused)
    # Threading treats it as d@x: one thread with both.
    ids = thread_ids(session, mlist)
    assert ids["d@x"] == ids[other.message_id]


def test_a_redelivery_differing_only_in_transport_headers_is_a_duplicate(session):
    mlist = create_list(session, "dev", "owner@example.com")
    raw = make_mail("r@x", "once")
    deliver(session, mlist, raw, "r@x")
    relayed = (
        b"Received: from mx.example (mx.example [192.0.2.1])\r\n\tby here; Mon, 2 Mar 2026\r\n"
        b"Return-Path: <ada@example.com>\r\nDelivered-To: dev@lists.example.org\r\n"
        b"X-Original-To: dev@lists.example.org\r\n" + raw.replace(b"\n", b"\r\n")
    )
    assert deliver(session, mlist, relayed, "r@x").dropped
    assert deliver(session, mlist, raw, "r@x").dropped
    assert deliver(session, mlist, raw + b"\n\n", "r@x").dropped  # as an mbox may end it
    assert count(session, Message) == 1


def test_a_retried_different_message_is_a_duplicate_of_its_own_copy(session):
    mlist = create_list(session, "dev", "owner@example.com")
    deliver(session, mlist, make_mail("d@x", "once"), "d@x")
    other = make_mail("d@x", "twice", body="other\n")
    assert not deliver(session, mlist, other, "d@x").dropped
    assert deliver(session, mlist, other, "d@x").dropped
    # In one batch too: the distinct message is kept once, its copy dropped.
    third = make_mail("d@x", "thrice", body="third\n")
    results = store_messages(
        session,
        [IncomingMessage(third, "d@x", [mlist.id]), IncomingMessage(third, "d@x", [mlist.id])],
    )
    assert not results[0].dropped and results[1].dropped
    assert count(session, Message) == 3


def test_an_mbox_with_two_messages_of_one_id_imports_both_and_reindex_keeps_them(session):
    mlist = create_list(session, "dev", "owner@example.com")
    raws = [make_mail("m@x", "first"), make_mail("m@x", "second", body="2\n")]
    report = import_messages(session, mlist, raws)
    assert (report.imported, report.duplicates) == (2, 0)
    again = import_messages(session, mlist, raws)
    assert (again.imported, again.duplicates) == (0, 2)
    reindex(session)
    assert count(session, Message) == 2
    assert len(set(thread_ids(session, mlist).values())) == 1
    assert count(session, ThreadNode) == 2


def two_ids(msgid: str, second: str) -> bytes:
    return make_mail(msgid, "two ids").replace(
        f"Message-ID: <{msgid}>\n".encode(),
        f"Message-ID: <{msgid}>\nMessage-ID: <{second}>\n".encode(),
    )


def parent_of(session, mlist, msgid: str) -> str | None:
    node = session.scalar(
        select(ThreadNode).where(ThreadNode.list_id == mlist.id, ThreadNode.message_id == msgid)
    )
    parent = session.get(ThreadNode, node.parent_id) if node.parent_id else None
    return parent.message_id if parent else None


def test_a_reply_to_the_second_message_id_threads_under_the_message(session):
    mlist = create_list(session, "dev", "owner@example.com")
    deliver(session, mlist, two_ids("one@x", "two@x"), "one@x")
    deliver(session, mlist, make_mail("reply@x", "Re: two ids", ["two@x"]), "reply@x")
    assert parent_of(session, mlist, "reply@x") == "one@x"
    assert len(set(thread_ids(session, mlist).values())) == 1


def test_a_reply_to_the_second_message_id_that_came_first_moves_under_it(session):
    mlist = create_list(session, "dev", "owner@example.com")
    deliver(session, mlist, make_mail("reply@x", "Re: two ids", ["two@x"]), "reply@x")
    assert parent_of(session, mlist, "reply@x") == "two@x"  # a placeholder, for now
    deliver(session, mlist, two_ids("one@x", "two@x"), "one@x")
    assert parent_of(session, mlist, "reply@x") == "one@x"
    ids = thread_ids(session, mlist)
    assert ids["reply@x"] == ids["one@x"]


def test_the_list_has_a_message_by_its_second_message_id(session):
    from archive.queries import list_has_any_message

    mlist = create_list(session, "dev", "owner@example.com")
    deliver(session, mlist, two_ids("one@x", "two@x"), "one@x")
    assert list_has_any_message(session, mlist.id, ["two@x"])
    assert not list_has_any_message(session, mlist.id, ["three@x"])
