"""A post's fan-out through a real `mailyard serve` (intake, Celery worker, beat) to a
real SMTP relay, with the whole process group SIGKILLed halfway through.

The kill lands while the relay holds a message it has received in full and has not yet
answered: where a delivering worker spends its time, and the point where a copy could be
sent twice. (No SMTP client can be exactly-once for a kill between its final '.' and its
own commit, RFC 1047; `mail.delivery` keeps that window to two consecutive writes, and a
kill timed by the relay's receipt would land in it whenever the scheduler paused the
worker there.)"""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
import threading
import time
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from core.db import new_session
from mail.models import OutboxMessage
from tests.served import ServedMailyard, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SUBSCRIBERS = 300


class SlowSink:
    """A relay that takes 10 ms to answer each message, so a fan-out lasts long enough
    to be killed in the middle. Like Postfix or Exim, it has a message once its final
    '.' arrived, whether or not the client is still there to read the answer."""

    def __init__(self) -> None:
        self.copies: Counter[str] = Counter()
        self.hold_after = 0  # once this many copies came, hold every answer until released
        self.holding = threading.Event()
        self.released = threading.Event()
        self.last_copy_at = time.monotonic()

    def quiet_for(self, seconds: float) -> bool:
        return time.monotonic() - self.last_copy_at >= seconds

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            self.copies[rcpt] += 1
        self.last_copy_at = time.monotonic()
        if self.hold_after and len(self.copies) >= self.hold_after:
            self.holding.set()
            while not self.released.is_set():
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        return "250 OK"


@pytest.fixture
def slow_relay():
    sink = SlowSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


def test_a_fanout_killed_halfway_completes_after_restart_without_duplicates(
    settings, broker_url, slow_relay
):
    sink, port = slow_relay
    if broker_url:
        import redis

        redis.Redis.from_url(broker_url).flushdb()
    served = ServedMailyard(
        dataclasses.replace(settings, relay_url=f"smtp://127.0.0.1:{port}"),
        extra_env={"MAILYARD_DELIVERY_CLAIM_SECONDS": "2"},
    )
    served.cli("list", "create", "dev", "--owner", "owner@example.org")
    everyone = [f"reader{i}@example.net" for i in range(SUBSCRIBERS)]
    served.cli("list", "subscribe", "dev", *everyone)
    served.start()
    try:
        post = (
            b"From: Alice <alice@example.com>\r\nTo: dev@lists.example.org\r\n"
            b"Subject: to everyone\r\nDate: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
            b"Message-ID: <fanout-kill@example.com>\r\n\r\nHello, all of you.\r\n"
        )
        with smtplib.SMTP("127.0.0.1", served.smtp_port) as client:
            client.sendmail("alice@example.com", ["dev@lists.example.org"], post)

        sink.hold_after = 40
        served.wait_until(sink.holding.is_set, what="the fan-out to start")
        # Kill once every worker waits for an answer after its '.' (no copy arrived for
        # half a second) and has committed what it handed over.
        served.wait_until(
            lambda: sink.quiet_for(0.5) and handed_over(settings) == sum(sink.copies.values()),
            what="the workers to wait on the relay with their hand-overs committed",
        )
        served.kill()
        sink.released.set()
        sent_before = len(sink.copies)
        assert sent_before < SUBSCRIBERS, "the fan-out finished before the kill"

        time.sleep(2.5)  # the dead worker's claim on its row runs out
        served.start()
        served.wait_until(lambda: len(sink.copies) == SUBSCRIBERS, timeout=90, what="every copy")
        time.sleep(1.0)  # anything sent twice would arrive by now
    finally:
        served.stop()
    assert set(sink.copies) == set(everyone)
    assert max(sink.copies.values()) == 1, [r for r, n in sink.copies.items() if n > 1]


def handed_over(settings) -> int:
    """Copies the outbox has recorded as handed to the relay, as committed."""
    with new_session(settings) as session:
        return session.scalar(select(func.coalesce(func.sum(OutboxMessage.delivered), 0)))
