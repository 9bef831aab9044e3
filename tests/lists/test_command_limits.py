"""Forged `+subscribe` mails cannot flood a mailbox, over real SMTP: the confirmation
requests sent to one address are limited as the web form's are
(`accounts.ratelimit.CONFIRMATION_PER_ADDRESS`); past the limit a request is taken
(`250`) and dropped without an answer. Another address still gets its answer (the
positive control). The same holds for following a tracker."""

from __future__ import annotations

import pytest

from accounts.ratelimit import CONFIRMATION_PER_ADDRESS
from tests.messages import DOMAIN, make_message, send
from trackers.tickets import create_tracker

VICTIM = "victim@example.net"


@pytest.fixture
def server(start_servers, relay_settings, session, lists):
    create_tracker(session, "bugs", "owner@example.org", "Bugs")
    session.commit()
    return start_servers(relay_url=relay_settings.relay_url)


def forged_requests(server, to: str, count: int, victim: str = VICTIM) -> None:
    for _ in range(count):
        raw = make_message(from_=victim, to=to, subject="subscribe")
        send(server.smtp_address, raw, to=(to,), sender="attacker@example.org")


def answered(sink, address: str) -> int:
    return sum(1 for r in sink.received if r.rcpt_tos == [address])


def test_forged_subscribe_mails_get_at_most_the_limit_of_answers(server, sink):
    forged_requests(server, f"dev+subscribe@{DOMAIN}", 13)
    assert answered(sink, VICTIM) == CONFIRMATION_PER_ADDRESS.count
    forged_requests(server, f"dev+subscribe@{DOMAIN}", 1, victim="other@example.net")
    assert answered(sink, "other@example.net") == 1


def test_the_limit_counts_lists_and_trackers_together(server, sink):
    forged_requests(server, f"announce+subscribe@{DOMAIN}", 2)
    forged_requests(server, f"bugs+subscribe@{DOMAIN}", 13)
    assert answered(sink, VICTIM) == CONFIRMATION_PER_ADDRESS.count
