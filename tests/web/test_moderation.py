"""The moderation queue on the web: only moderators see it (404 for anyone else), posts
are shown as escaped text, approve and reject are CSRF-protected POSTs that do what the
mail commands do, and a second decision is refused with who made the first."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from accounts.access import set_entry
from archive.models import Message, MessageStatus
from archive.parse import parse_message
from lists.holding import Hold
from lists.membership import subscribe
from lists.models import HeldMessage
from lists.moderation import HELD_PAGE
from lists.post_rights import NOT_SUBSCRIBED
from lists.store import post_request, store_posts
from mailyard.wiring import BLUEPRINTS
from tests.accounts.helpers import make_user
from tests.web.conftest import make_mail
from tests.web.test_subscriptions import sign_in
from web.app import create_app

DOMAIN = "lists.example.org"
MIA = "mia@maint.example"  # moderates dev
ADA = "ada@example.com"  # the author of held posts
BOB = "bob@example.net"  # subscribed, no other rights
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def dev(seed, session):
    mlist = seed.make_list("dev")
    mlist.moderation = "unsubscribed"
    mia = make_user(session, "mia", MIA)
    make_user(session, "bob", BOB)
    set_entry(session, f"list:{mlist.id}", {"browse", "reply", "post", "moderate"}, user_id=mia.id)
    subscribe(session, mlist.id, BOB)
    session.commit()
    return mlist


@pytest.fixture
def client(relay_settings):
    """The web app sending through the relay sink (approvals deliver, rejections tell)."""
    app = create_app(relay_settings, BLUEPRINTS)
    app.testing = True
    return app.test_client()


def hold(session, settings, mlist, msgid: str, body: str = "hello\n") -> HeldMessage:
    """Hold a post as intake does (`store_posts`, the writer's own step)."""
    subject = f"Question {msgid}"
    raw = make_mail(msgid, subject, body=body, sender=f"Ada <{ADA}>")
    request = post_request(
        raw,
        parse_message(raw),
        envelope_from=ADA,
        envelope_to=[],
        lists={},
        holds=[Hold(mlist.id, mlist.name, f"dev@{DOMAIN}", NOT_SUBSCRIBED, ADA, subject)],
    )
    store_posts(session, settings, [request])
    session.commit()
    return session.scalar(select(HeldMessage).where(HeldMessage.message_id == msgid))


def csrf_of(client, path: str) -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def status_of(session, held: HeldMessage) -> str:
    session.expire_all()
    return session.get(HeldMessage, held.id).status


def test_only_moderators_see_the_queue(client, session, settings, dev):
    hold(session, settings, dev, "q1@example.com")
    assert client.get("/dev/moderation").status_code == 404  # anonymous
    sign_in(client, settings, BOB)
    assert client.get("/dev/moderation").status_code == 404  # a subscriber
    sign_in(client, settings, MIA)
    page = client.get("/dev/moderation")
    assert page.status_code == 200
    assert "Question q1@example.com" in page.get_data(as_text=True)


def test_a_held_post_is_shown_as_escaped_text(client, session, settings, dev):
    hold(session, settings, dev, "x@example.com", body="<script>alert(1)</script>\n")
    sign_in(client, settings, MIA)
    html = client.get("/dev/moderation").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert '<pre class="body">&lt;script&gt;alert(1)&lt;/script&gt;' in html


def test_approve_archives_and_delivers_and_cannot_be_done_twice(
    client, session, relay_settings, dev, sink
):
    held = hold(session, relay_settings, dev, "ok@example.com")
    sign_in(client, relay_settings, MIA)
    path = f"/dev/moderation/{held.id}/approve"
    assert client.post(path).status_code == 400  # no CSRF token
    assert status_of(session, held) == "held"

    token = csrf_of(client, "/dev/moderation")
    done = client.post(path, data={"csrf_token": token})
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/dev/moderation?done=approved")
    session.expire_all()
    message = session.scalar(select(Message).where(Message.message_id == "ok@example.com"))
    assert message.status is MessageStatus.archived
    assert [r.rcpt_tos for r in sink.received] == [[BOB]]
    assert session.get(HeldMessage, held.id).decided_by == MIA

    again = client.post(path, data={"csrf_token": token})
    assert again.status_code == 409
    assert "already approved by mia@maint.example" in again.get_data(as_text=True)
    assert len(sink.received) == 1


def test_reject_needs_a_reason_and_tells_the_author(client, session, relay_settings, dev, sink):
    held = hold(session, relay_settings, dev, "no@example.com")
    sign_in(client, relay_settings, MIA)
    token = csrf_of(client, "/dev/moderation")
    path = f"/dev/moderation/{held.id}/reject"
    assert client.post(path, data={"csrf_token": token, "reason": " "}).status_code == 400
    assert status_of(session, held) == "held"

    done = client.post(path, data={"csrf_token": token, "reason": "Please subscribe first."})
    assert done.status_code == 303
    assert status_of(session, held) == "rejected"
    [told] = sink.received
    assert told.rcpt_tos == [ADA]
    assert b"Reason: Please subscribe first." in told.content
    assert session.scalar(select(Message.id)) is None


def test_someone_without_moderate_cannot_decide(client, session, settings, dev):
    held = hold(session, settings, dev, "q@example.com")
    sign_in(client, settings, BOB)
    token = csrf_of(client, "/dev/")
    for action in ("approve", "reject"):
        answer = client.post(
            f"/dev/moderation/{held.id}/{action}", data={"csrf_token": token, "reason": "x"}
        )
        assert answer.status_code == 404
    assert status_of(session, held) == "held"


def test_a_held_post_of_another_list_is_not_found(client, session, settings, dev, seed):
    ops = seed.make_list("ops")
    held = hold(session, settings, ops, "elsewhere@example.com")
    sign_in(client, settings, MIA)
    token = csrf_of(client, "/dev/moderation")
    answer = client.post(f"/dev/moderation/{held.id}/approve", data={"csrf_token": token})
    assert answer.status_code == 404


def test_the_queue_is_paginated(client, session, settings, dev):
    for i in range(HELD_PAGE + 3):
        hold(session, settings, dev, f"p{i:02d}@example.com")
    sign_in(client, settings, MIA)
    first = client.get("/dev/moderation").get_data(as_text=True)
    assert f"{HELD_PAGE + 3} posts waiting" in first
    assert first.count('class="held"') == HELD_PAGE
    after = re.search(r'href="(/dev/moderation\?after=\d+)"', first).group(1)
    second = client.get(after).get_data(as_text=True)
    assert second.count('class="held"') == 3
    assert f"Question p{HELD_PAGE + 2:02d}@example.com" in second
