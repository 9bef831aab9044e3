"""The outbox: recorded in the caller's transaction, delivered once to a real SMTP relay."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import select, update

from core.db import utcnow
from core.settings import use_settings
from mail import tasks
from mail.compose import AUTO_REPLIED, build_message
from mail.delivery import deliver, due_message_ids
from mail.models import OutboxMessage, OutboxStatus
from mail.outbox import after_commit_enqueue, queue_mail
from mail.relay import parse_relay_url
from tests.smtp_sink import free_port

SENDER = "mailyard@lists.example.org"
ALICE = "alice@example.com"
BOB = "bob@example.com"
NOBODY = "nobody@example.com"


def make_raw(subject: str = "status: accepted") -> bytes:
    return build_message(
        from_addr=SENDER,
        to_addrs=[ALICE],
        subject=subject,
        body="Your series was accepted.\nThanks!\n",
        domain="lists.example.org",
    )


def queued(session, raw: bytes | None = None, recipients=(ALICE,)) -> OutboxMessage:
    row = queue_mail(
        session,
        envelope_from=SENDER,
        recipients=list(recipients),
        raw=raw or make_raw(),
        purpose="test",
    )
    session.commit()
    return row


def reloaded(session, row_id: int) -> OutboxMessage:
    session.expire_all()
    return session.get(OutboxMessage, row_id)


def lines(raw: bytes) -> list[bytes]:
    return raw.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")


def test_queued_mail_is_delivered_once_with_its_exact_bytes(session, relay_settings, sink):
    raw = make_raw()
    row = queued(session, raw, recipients=[ALICE, BOB])

    assert deliver(session, row.id, relay_settings) == "sent"

    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.mail_from == SENDER
    assert got.rcpt_tos == [ALICE, BOB]
    assert lines(got.content) == lines(raw)
    row = reloaded(session, row.id)
    assert row.status is OutboxStatus.sent
    assert row.sent_at is not None
    assert row.claimed_until is None
    assert row.last_error == ""


def test_delivering_twice_sends_once(session, relay_settings, sink):
    row = queued(session)
    assert deliver(session, row.id, relay_settings) == "sent"
    assert deliver(session, row.id, relay_settings) == "skipped"
    assert len(sink.received) == 1


def test_a_row_claimed_by_another_worker_is_left_to_it(session, relay_settings, sink):
    row = queued(session)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id)
        .values(claimed_until=utcnow() + timedelta(minutes=1))
    )
    session.commit()

    assert due_message_ids(session) == []
    assert deliver(session, row.id, relay_settings) == "skipped"
    assert sink.received == []


def test_451_is_retried_after_the_backoff(session, relay_settings, sink):
    sink.defer = 1
    row = queued(session)

    before = utcnow()
    assert deliver(session, row.id, relay_settings) == "retry"
    row = reloaded(session, row.id)
    assert row.status is OutboxStatus.pending
    assert row.attempts == 1
    assert "451" in row.last_error and "try later" in row.last_error
    assert before + timedelta(seconds=119) <= row.next_attempt_at
    assert row.next_attempt_at <= utcnow() + timedelta(seconds=121)
    assert row.claimed_until is None

    # Not due yet: neither a task nor the sweep sends it.
    assert deliver(session, row.id, relay_settings) == "skipped"
    assert due_message_ids(session) == []
    assert sink.received == []

    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert due_message_ids(session) == [row.id]
    assert deliver(session, row.id, relay_settings) == "sent"
    assert len(sink.received) == 1
    assert reloaded(session, row.id).status is OutboxStatus.sent


def test_550_for_every_recipient_fails_at_once_keeping_the_reply(session, relay_settings, sink):
    sink.unknown = {NOBODY}
    row = queued(session, recipients=[NOBODY])

    assert deliver(session, row.id, relay_settings) == "failed"

    row = reloaded(session, row.id)
    assert row.status is OutboxStatus.failed
    assert "550" in row.last_error and "no such user" in row.last_error
    assert sink.received == []
    assert due_message_ids(session) == []


def test_a_partly_refused_message_is_sent_and_the_refusal_kept(session, relay_settings, sink):
    sink.unknown = {NOBODY}
    row = queued(session, recipients=[ALICE, NOBODY])

    assert deliver(session, row.id, relay_settings) == "sent"

    assert [r.rcpt_tos for r in sink.received] == [[ALICE]]
    row = reloaded(session, row.id)
    assert row.status is OutboxStatus.sent
    assert NOBODY in row.last_error and "550" in row.last_error


def test_relay_down_counts_an_attempt_and_backs_off(session, settings, relay_settings):
    down = use_settings(replace(settings, relay_url=f"smtp://127.0.0.1:{free_port()}"))
    row = queued(session)

    assert deliver(session, row.id, down) == "retry"

    row = reloaded(session, row.id)
    assert row.status is OutboxStatus.pending
    assert row.attempts == 1
    assert row.next_attempt_at > utcnow() + timedelta(seconds=100)
    assert row.last_error


def test_backoff_doubles_up_to_an_hour(session, settings, relay_settings):
    down = use_settings(replace(settings, relay_url=f"smtp://127.0.0.1:{free_port()}"))
    row = queued(session)
    delays = []
    for _ in range(7):
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.commit()
        start = utcnow()
        assert deliver(session, row.id, down) == "retry"
        row = reloaded(session, row.id)
        delays.append(round((row.next_attempt_at - start).total_seconds() / 60))
    assert delays == [2, 4, 8, 16, 32, 60, 60]


def test_a_message_still_deferred_after_the_give_up_time_fails(session, relay_settings, sink):
    sink.defer = 1
    row = queued(session)
    give_up_after = timedelta(seconds=relay_settings.delivery_give_up_after)
    row.created_at = utcnow() - give_up_after - timedelta(minutes=1)
    session.commit()

    assert deliver(session, row.id, relay_settings) == "failed"

    row = reloaded(session, row.id)
    assert row.status is OutboxStatus.failed
    assert "gave up" in row.last_error and "451" in row.last_error
    assert sink.received == []


def test_after_commit_enqueue_delivers_on_commit(session, relay_settings, sink):
    row = queue_mail(
        session, envelope_from=SENDER, recipients=[ALICE], raw=make_raw(), purpose="test"
    )
    after_commit_enqueue(session, row)
    assert sink.received == []

    session.commit()  # tasks are eager in tests: delivery runs inside the commit

    assert len(sink.received) == 1
    assert reloaded(session, row.id).status is OutboxStatus.sent
    # The listener is gone: later transactions enqueue nothing more.
    queued(session)
    assert len(sink.received) == 1


def test_after_commit_enqueue_does_nothing_on_rollback(session, relay_settings, sink):
    row = queue_mail(
        session, envelope_from=SENDER, recipients=[ALICE], raw=make_raw(), purpose="test"
    )
    session.flush()
    after_commit_enqueue(session, row)
    session.rollback()

    session.add(OutboxMessage(envelope_from=SENDER, recipients=[BOB], raw=b"x", purpose="t"))
    session.commit()  # a later transaction of the same session

    assert sink.received == []
    assert session.query(OutboxMessage).filter_by(purpose="test").count() == 0


def test_after_commit_enqueue_waits_for_the_outer_transaction(session, relay_settings, sink):
    with session.begin_nested():
        row = queue_mail(
            session, envelope_from=SENDER, recipients=[ALICE], raw=make_raw(), purpose="test"
        )
        after_commit_enqueue(session, row)
    assert sink.received == []  # a released SAVEPOINT is not a commit
    session.commit()
    assert len(sink.received) == 1


def test_the_sweep_delivers_rows_whose_task_was_lost(session, relay_settings, sink):
    first, second = queued(session), queued(session)
    assert sorted(due_message_ids(session)) == [first.id, second.id]

    assert tasks.sweep_outbox() == 2

    assert len(sink.received) == 2
    assert due_message_ids(session) == []


def test_build_message_gives_the_headers_asked():
    raw = build_message(
        from_addr="Mailyard <mailyard@lists.example.org>",
        to_addrs=["Zoë <zoe@example.com>", BOB],
        subject="Re: [PATCH v2 0/3] frobnicate\n the widgets",
        body="Merci, ça marche.\n",
        in_reply_to="parent@example.com",
        references=["<root@example.com>"],
        extra_headers={**AUTO_REPLIED, "X-Mailyard-Purpose": "patchset-status-reply"},
        domain="lists.example.org",
    )
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = message_from_bytes(raw, policy=default)
    assert msg["From"].addresses[0].addr_spec == "mailyard@lists.example.org"
    assert [a.display_name for a in msg["To"].addresses] == ["Zoë", ""]
    assert msg["Subject"] == "Re: [PATCH v2 0/3] frobnicate the widgets"
    assert msg["Message-ID"].endswith("@lists.example.org>")
    assert msg["Date"].datetime.tzinfo is not None
    assert msg["In-Reply-To"] == "<parent@example.com>"
    assert msg["References"] == "<root@example.com> <parent@example.com>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Mailyard-Purpose"] == "patchset-status-reply"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().replace("\r\n", "\n") == "Merci, ça marche.\n"


def test_build_message_adds_no_auto_submitted_unless_asked():
    msg = message_from_bytes(make_raw(), policy=default)
    assert msg["Auto-Submitted"] is None
    assert msg["In-Reply-To"] is None and msg["References"] is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:25", ("127.0.0.1", 25, "", "", False)),
        ("smtp://relay.example.org", ("relay.example.org", 25, "", "", False)),
        ("smtp://u%40x:p%3Aw@relay:587?starttls=1", ("relay", 587, "u@x", "p:w", True)),
    ],
)
def test_parse_relay_url(url, expected):
    relay = parse_relay_url(url)
    assert (relay.host, relay.port, relay.username, relay.password, relay.starttls) == expected


def test_sent_rows_are_pruned_after_a_month_and_failed_ones_kept(session, relay_settings, sink):
    old_sent, new_sent, old_failed = (queued(session) for _ in range(3))
    long_ago = utcnow() - timedelta(days=31)
    for row, status, when in (
        (old_sent, OutboxStatus.sent, long_ago),
        (new_sent, OutboxStatus.sent, utcnow()),
        (old_failed, OutboxStatus.failed, long_ago),
    ):
        row.status, row.sent_at, row.next_attempt_at = status, when, when
    session.commit()

    assert tasks.prune_outbox() == 1

    session.expire_all()
    remaining = {r.id for r in session.scalars(select(OutboxMessage))}
    assert remaining == {new_sent.id, old_failed.id}
