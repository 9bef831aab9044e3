"""Subscription confirmations are throttled as sign-up mails are (`accounts.ratelimit`):
per address they are sent to, and per web client. Over the limit the web answers 429
with Retry-After and a page saying so, and no mail goes; below it, each request mails
(the positive control)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from accounts.ratelimit import CONFIRMATION_PER_ADDRESS, CONFIRMATION_PER_IP
from mail.models import OutboxMessage


@pytest.fixture
def dev(seed, session):
    mlist = seed.make_list("dev")
    seed.make_list("ops")
    session.commit()
    return mlist


def ask(client, address: str, name: str = "dev", ip: str = "192.0.2.1"):
    page = client.get(f"/{name}/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(
        f"/{name}/subscribe",
        data={"csrf_token": csrf, "address": address, "action": "subscribe"},
        environ_base={"REMOTE_ADDR": ip},
    )


def mails_to(session, address: str) -> int:
    session.expire_all()
    rows = session.scalars(select(OutboxMessage.recipients)).all()
    return sum(1 for recipients in rows if address in recipients)


def test_confirmations_to_one_address_stop_at_the_limit(client, dev, session):
    allowed = CONFIRMATION_PER_ADDRESS.count
    answers = [ask(client, "bea@example.org", ip=f"192.0.2.{i}") for i in range(13)]
    assert [a.status_code for a in answers[:allowed]] == [200] * allowed
    over = answers[allowed]
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
    assert "too many" in over.get_data(as_text=True).lower()
    assert {a.status_code for a in answers[allowed:]} == {429}
    assert mails_to(session, "bea@example.org") == allowed
    # another address is not held back by bea's limit
    assert ask(client, "cy@example.org", ip="192.0.2.99").status_code == 200


def test_one_client_asking_for_many_addresses_is_limited(client, dev, session):
    allowed = CONFIRMATION_PER_IP.count
    codes = [ask(client, f"p{i}@example.org").status_code for i in range(allowed + 2)]
    assert codes == [200] * allowed + [429, 429]
    total = session.scalar(select(func.count()).select_from(OutboxMessage))
    assert total == allowed
