"""The group-commit writer: many messages per transaction, each answered for itself."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import func, select

from archive.models import Message, ThreadNode
from archive.store import IncomingMessage, store_message
from lists.store import PostRequest, store_posts
from mta.writer import GroupCommitWriter, StoreRequest, WriterStopped
from tests.messages import DEV, make_message, msgid_of, send


def request(list_ids: list[int], raw: bytes | None = None, **kwargs) -> StoreRequest:
    raw = raw or make_message()
    post = PostRequest(IncomingMessage(raw, msgid_of(raw), list_ids, **kwargs))
    return StoreRequest(store_posts, post, len(raw), msgid_of(raw))


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def test_queued_messages_are_committed_in_one_batch(settings, session, lists):
    writer = GroupCommitWriter(settings)
    requests = [request([lists["dev"]]) for _ in range(10)]
    futures = [writer.submit(r) for r in requests]  # all queued before the thread runs
    writer.start()
    results = [f.result(timeout=10) for f in futures]
    writer.stop()
    assert writer.batches == 1
    assert all(r.message_pk is not None for r in results)
    assert count(session, Message) == 10


def test_a_bad_message_fails_alone_and_the_rest_of_its_batch_is_stored(settings, session, lists):
    writer = GroupCommitWriter(settings)
    good = [request([lists["dev"]]) for _ in range(3)]
    bad = request([987654])  # no such list: a foreign key violation, every time
    futures = [writer.submit(r) for r in (good[0], bad, good[1], good[2])]
    writer.start()
    writer.stop()
    assert futures[1].exception(timeout=10) is not None
    assert all(f.result(timeout=10).message_pk for f in (futures[0], *futures[2:]))
    assert count(session, Message) == 3
    assert count(session, ThreadNode) == 3


def test_the_same_message_twice_in_one_batch_is_stored_once(settings, session, lists):
    writer = GroupCommitWriter(settings)
    raw = make_message()
    first = writer.submit(request([lists["dev"]], raw))
    second = writer.submit(request([lists["dev"], lists["announce"]], raw))
    writer.start()
    writer.stop()
    assert first.result(timeout=10).message_pk is not None
    assert second.result(timeout=10).new_list_ids == [lists["announce"]]
    assert count(session, Message) == 1
    assert count(session, ThreadNode) == 2


def test_race_with_another_intake_on_the_same_message_ends_in_a_dropped_duplicate(
    settings, session, lists
):
    """Another process inserts the same Message-ID on the same list and commits while
    our insert waits for its lock: ours hits the unique key, is retried alone, and the
    retry finds the other copy and drops ours."""
    raw = make_message()
    store_message(session, raw, msgid_of(raw), [lists["dev"]])  # uncommitted: holds the key
    writer = GroupCommitWriter(settings).start()
    future = writer.submit(request([lists["dev"]], raw))
    time.sleep(0.5)  # the writer is now blocked on the other transaction's lock
    session.commit()
    result = future.result(timeout=30)
    writer.stop()
    assert result.dropped
    assert writer.batches == 0  # the first, grouped attempt failed on the unique key
    assert count(session, Message) == 1
    assert count(session, ThreadNode) == 1


def test_dkim_verdict_is_stored_with_the_message(settings, session, lists):
    writer = GroupCommitWriter(settings).start()
    result = writer.submit(
        request([lists["dev"]], dkim_result="pass", dkim_domain="example.com", dkim_aligned=True)
    ).result(timeout=10)
    writer.stop()
    session.expire_all()
    message = session.get(Message, result.message_pk)
    assert (message.dkim_result, message.dkim_domain, message.dkim_aligned) == (
        "pass",
        "example.com",
        True,
    )


def test_a_stopped_writer_takes_nothing(settings, lists):
    writer = GroupCommitWriter(settings).start()
    writer.stop()
    with pytest.raises(WriterStopped):
        writer.submit(request([lists["dev"]]))


def test_many_concurrent_clients_are_all_stored_exactly_once(intake, session, lists):
    sent: list[str] = []
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            for i in range(50):
                raw = make_message(subject=f"client {n} message {i}")
                send(intake.smtp_address, raw, to=(DEV,))
                sent.append(msgid_of(raw))
        except BaseException as e:  # noqa: BLE001  reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(sent) == 200
    session.expire_all()
    ids = list(session.scalars(select(Message.message_id)))
    assert sorted(ids) == sorted(sent)
    nodes = session.scalar(
        select(func.count()).select_from(ThreadNode).where(ThreadNode.list_id == lists["dev"])
    )
    assert nodes == 200


def _run_with_one_waiter_cancelled(writer, requests, *, when_writing: threading.Event | None):
    """Three handlers await `writer.store`; the second one's client goes away (its task is
    cancelled, as aiosmtpd does on a dropped connection) before its batch is taken, or,
    with `when_writing`, while the batch is being written. The results of the three."""

    async def main():
        tasks = [asyncio.ensure_future(writer.store(r)) for r in requests]
        await asyncio.sleep(0)  # every request queued
        if when_writing is None:
            tasks[1].cancel()
            await asyncio.sleep(0)
            writer.start()
        else:
            writer.start()
            await asyncio.to_thread(when_writing.wait, 10)
            tasks[1].cancel()
            await asyncio.sleep(0.05)
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(main())


def test_a_client_gone_mid_batch_leaves_the_rest_of_the_batch_answered(settings, session, lists):
    writing, release = threading.Event(), threading.Event()

    def slow_store(db, settings, payloads):
        writing.set()
        release.wait(10)
        return store_posts(db, settings, payloads)

    requests = [request([lists["dev"]]) for _ in range(3)]
    for r in requests:
        r.store = slow_store
    writer = GroupCommitWriter(settings)
    threading.Timer(0.5, release.set).start()
    results = _run_with_one_waiter_cancelled(writer, requests, when_writing=writing)
    writer.stop()
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[0].message_pk and results[2].message_pk  # not a 451: they were stored
    assert count(session, Message) == 3  # the one whose client left is stored all the same


def test_a_client_gone_before_its_batch_is_not_stored_and_the_others_are(settings, session, lists):
    requests = [request([lists["dev"]]) for _ in range(3)]
    writer = GroupCommitWriter(settings)
    results = _run_with_one_waiter_cancelled(writer, requests, when_writing=None)
    writer.stop()
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[0].message_pk and results[2].message_pk
    # It never got a 250, so its sender sends it again; storing it now would be for nobody.
    assert count(session, Message) == 2
