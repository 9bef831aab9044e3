"""Membership pages: the RFC 8058 one-click unsubscribe (a GET shows a form, the POST
unsubscribes without cookies or CSRF, idempotently), the owner-only members page with its
bounce and undelivered reports, and the list page's command addresses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer

from core.db import utcnow
from lists.membership import find_subscription, one_click_url, subscribe, unsubscribe_token
from lists.models import BounceEvent
from lists.reports import recent_bounces, undelivered_copies
from mail.models import OutboxMessage, OutboxStatus
from web.auth import login_link

OWNER = "owner@example.com"  # the Seeder's list owner
ADA = "ada@example.com"
WHEN = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def dev(seed, session):
    """The list `dev` with Ada subscribed, and a second list `ops`."""
    mlist = seed.make_list("dev")
    seed.make_list("ops")
    subscribe(session, mlist.id, ADA)
    session.commit()
    return mlist


def unsubscribe_path(settings, list_name: str, address: str) -> str:
    return one_click_url(settings, list_name, address).removeprefix(settings.base_url)


def is_subscribed(session, mlist, address: str) -> bool:
    session.expire_all()
    return find_subscription(session, mlist.id, address) is not None


def sign_in(client, settings, address: str) -> None:
    """Follow a login link as a person would: open it, confirm."""
    path = login_link(settings, address).removeprefix(settings.base_url)
    form = client.get(path).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    client.post(path, data={"csrf_token": csrf})


def bounce(mlist, address: str, minutes: int, diagnostic: str = "550 5.1.1 no such user"):
    return BounceEvent(
        list_id=mlist.id,
        address=address,
        received_at=WHEN + timedelta(minutes=minutes),
        permanent=True,
        status="5.1.1",
        diagnostic=diagnostic,
        source="dsn",
    )


def outbox_row(mlist, status: OutboxStatus, attempts: int, minutes: int, error: str = ""):
    return OutboxMessage(
        envelope_from=f"{mlist.name}-bounces@lists.example.org",
        recipients=["bob@example.net", "carol@example.net"],
        remaining=["carol@example.net"] if status is not OutboxStatus.sent else [],
        raw=None,
        list_id=mlist.id,
        status=status,
        attempts=attempts,
        next_attempt_at=utcnow(),
        created_at=WHEN + timedelta(minutes=minutes),
        last_error=error,
        purpose="list-copy",
        delivered=1,
    )


# -- one-click unsubscribe ---------------------------------------------------------------


def test_get_shows_the_form_and_does_not_unsubscribe(client, dev, session, settings):
    response = client.get(unsubscribe_path(settings, "dev", ADA))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'method="post"' in page and f"Unsubscribe {ADA}</button>" in page
    assert 'name="List-Unsubscribe" value="One-Click"' in page
    assert 'name="csrf_token"' not in page
    assert is_subscribed(session, dev, ADA)


def test_one_click_post_unsubscribes_and_is_idempotent(client, dev, session, settings):
    path = unsubscribe_path(settings, "dev", ADA)
    first = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert first.status_code == 200
    assert f'<span class="addr">{ADA}</span> is unsubscribed from dev' in first.get_data(
        as_text=True
    )
    assert not is_subscribed(session, dev, ADA)
    again = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and "is unsubscribed from dev" in again.get_data(as_text=True)


def test_one_click_post_works_without_cookies_or_csrf(app, dev, session, settings):
    """As a mail provider sends it: no cookie, no CSRF token, either form encoding."""
    client = app.test_client(use_cookies=False)
    subscribe(session, dev.id, "bob@example.net")
    session.commit()
    response = client.post(
        unsubscribe_path(settings, "dev", ADA),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200 and "Location" not in response.headers
    multipart = client.post(
        unsubscribe_path(settings, "dev", "bob@example.net"),
        data={"List-Unsubscribe": "One-Click"},
        content_type="multipart/form-data",
    )
    assert multipart.status_code == 200
    assert not is_subscribed(session, dev, ADA)
    assert not is_subscribed(session, dev, "bob@example.net")


def test_the_token_address_is_matched_whatever_its_case(client, dev, session, settings):
    response = client.post(unsubscribe_path(settings, "dev", "ADA@Example.com"))
    assert response.status_code == 200 and not is_subscribed(session, dev, ADA)


def test_forged_or_other_list_token_is_404(client, dev, session, settings):
    other_list = unsubscribe_path(settings, "ops", ADA).replace("/ops/", "/dev/")
    forged = URLSafeSerializer("not our key", salt="mailyard.unsubscribe").dumps(["dev", ADA])
    assert forged != unsubscribe_token(settings, "dev", ADA)
    for path in (other_list, f"/dev/unsubscribe/{forged}", "/dev/unsubscribe/not-a-token"):
        assert client.get(path).status_code == 404
        assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert "not for the list dev" in client.get(other_list).get_data(as_text=True)
    assert client.get(unsubscribe_path(settings, "nope", ADA)).status_code == 404
    assert is_subscribed(session, dev, ADA)


# -- the members page --------------------------------------------------------------------


def test_members_page_is_403_for_anonymous_and_for_others(client, dev, settings):
    anonymous = client.get("/dev/members")
    assert anonymous.status_code == 403
    assert "Sign in as the list owner" in anonymous.get_data(as_text=True)
    sign_in(client, settings, ADA)
    other = client.get("/dev/members")
    assert other.status_code == 403 and "sign in as the owner" in other.get_data(as_text=True)
    assert ADA not in other.get_data(as_text=True).split("</header>")[1]


def test_members_page_pages_by_fifty_for_the_owner(client, dev, session, settings):
    for i in range(60):
        subscribe(session, dev.id, f"user{i}@example.com")
    session.commit()
    sign_in(client, settings, "Owner@Example.COM")  # the owner, whatever the case
    first = client.get("/dev/members")
    page = first.get_data(as_text=True)
    assert first.status_code == 200 and "61 members." in page
    assert page.count("<tr><td") == 50 and ADA in page and "user48@example.com" in page
    assert "user49@example.com" not in page
    after = re.search(r'href="/dev/members\?after=(\d+)">next page', page).group(1)
    second = client.get(f"/dev/members?after={after}").get_data(as_text=True)
    assert second.count("<tr><td") == 11
    assert "user49@example.com" in second and "user59@example.com" in second
    assert "next page" not in second and 'href="/dev/members">first page' in second


def test_members_page_shows_bounces_and_undelivered_copies(client, dev, session, settings):
    session.add(bounce(dev, ADA, 1, "550 5.1.1 mailbox unavailable"))
    session.add(outbox_row(dev, OutboxStatus.failed, 3, 2, "550 relaying denied"))
    session.add(outbox_row(dev, OutboxStatus.pending, 1, 3, "451 try again later"))
    session.commit()
    sign_in(client, settings, OWNER)
    page = client.get("/dev/members").get_data(as_text=True)
    bounces = page.split("<h2>Recent bounces</h2>")[1].split("<h2>")[0]
    assert ADA in bounces and "550 5.1.1 mailbox unavailable" in bounces and "permanent" in bounces
    undelivered = page.split("<h2>Undelivered copies</h2>")[1]
    assert "550 relaying denied" in undelivered and "451 try again later" in undelivered
    assert "1 of 2" in undelivered and "carol@example.net" in undelivered
    assert "failed" in undelivered and "deferred" in undelivered


def test_mail_text_in_the_reports_is_escaped(client, dev, session, settings):
    session.add(bounce(dev, "<script>x</script>@example.com", 1, "<script>alert(1)</script>"))
    session.add(outbox_row(dev, OutboxStatus.failed, 1, 2, "550 <b>no</b>"))
    session.commit()
    sign_in(client, settings, OWNER)
    page = client.get("/dev/members").get_data(as_text=True)
    assert "<script>" not in page and "<b>no</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "550 &lt;b&gt;no&lt;/b&gt;" in page


# -- the reports' queries ----------------------------------------------------------------


def test_reports_are_newest_first_and_only_the_list_s_undelivered_rows(dev, seed, session):
    ops = seed.make_list("ops2")
    session.add_all([bounce(dev, "a@example.com", 1), bounce(dev, "b@example.com", 5)])
    session.add(bounce(ops, "c@example.com", 9))
    session.add_all(
        [
            outbox_row(dev, OutboxStatus.failed, 2, 1, "old failure"),
            outbox_row(dev, OutboxStatus.pending, 1, 4, "deferred"),
            outbox_row(dev, OutboxStatus.pending, 0, 6, "not tried yet"),
            outbox_row(dev, OutboxStatus.sent, 1, 7, "sent"),
            outbox_row(ops, OutboxStatus.failed, 1, 8, "other list"),
        ]
    )
    session.commit()
    assert [b.address for b in recent_bounces(session, dev.id)] == [
        "b@example.com",
        "a@example.com",
    ]
    assert [b.address for b in recent_bounces(session, dev.id, limit=1)] == ["b@example.com"]
    assert [o.last_error for o in undelivered_copies(session, dev.id)] == [
        "deferred",
        "old failure",
    ]


# -- the list page -----------------------------------------------------------------------


def test_list_page_shows_the_command_addresses_and_the_owner_link(client, dev, settings):
    page = client.get("/dev/").get_data(as_text=True)
    for command in ("subscribe", "unsubscribe", "help"):
        address = f"dev+{command}@lists.example.org"
        assert f'<a href="mailto:{address}">{address}</a>' in page
    assert "confirm by replying" in page
    assert "/dev/members" not in page
    sign_in(client, settings, ADA)
    assert "/dev/members" not in client.get("/dev/").get_data(as_text=True)
    sign_in(client, settings, OWNER)
    assert 'href="/dev/members"' in client.get("/dev/").get_data(as_text=True)


# -- subscribing on the web -----------------------------------------------------------------


def test_the_list_page_form_mails_a_confirmation_and_the_link_completes_it(
    client, dev, session, relay_settings, sink
):
    page = client.get("/dev/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/dev/subscribe",
        data={"csrf_token": csrf, "address": "Bea@Example.org", "action": "subscribe"},
    )
    assert response.status_code == 200 and "Check your mail" in response.get_data(as_text=True)
    assert not is_subscribed(session, dev, "bea@example.org")  # nothing until confirmed

    [mail] = sink.received
    assert mail.rcpt_tos == ["Bea@example.org"]
    text = mail.content.decode()
    token = re.search(r"Subject: confirm ([0-9a-f]{32})", text).group(1)
    assert f"/dev/confirm/{token}" in text
    assert "Confirm" in client.get(f"/dev/confirm/{token}").get_data(as_text=True)
    assert not is_subscribed(session, dev, "bea@example.org")  # a GET changes nothing

    done = client.post(f"/dev/confirm/{token}")
    assert done.status_code == 200 and "subscribed to dev" in done.get_data(as_text=True)
    assert is_subscribed(session, dev, "bea@example.org")
    assert client.post(f"/dev/confirm/{token}").status_code == 404  # used up


def test_the_form_needs_its_csrf_token_and_a_valid_address(client, dev, session):
    assert client.post("/dev/subscribe", data={"address": "a@example.org"}).status_code == 400
    page = client.get("/dev/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    bad = client.post("/dev/subscribe", data={"csrf_token": csrf, "address": "not an address"})
    assert bad.status_code == 400 and "invalid address" in bad.get_data(as_text=True).lower()


def test_a_refused_address_comes_back_typed_with_the_reason_beside_it(client, dev):
    page = client.get("/dev/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    bad = client.post(
        "/dev/subscribe", data={"csrf_token": csrf, "address": "bea at example", "action": "x"}
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and bad.mimetype == "text/html"
    assert 'value="bea at example"' in html and 'id="address-error"' in html
    assert 'aria-invalid="true"' in html


def test_unsubscribing_on_the_web_also_asks_the_mailbox(client, dev, session, relay_settings, sink):
    page = client.get("/dev/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(
        "/dev/subscribe", data={"csrf_token": csrf, "address": ADA, "action": "unsubscribe"}
    )
    assert is_subscribed(session, dev, ADA)
    token = re.search(r"Subject: confirm ([0-9a-f]{32})", sink.received[-1].content.decode())
    client.post(f"/dev/confirm/{token.group(1)}")
    assert not is_subscribed(session, dev, ADA)
