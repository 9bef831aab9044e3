"""Sessions end on the server: signing out, a new password and a used login link leave
nothing a copied cookie or a forwarded link could still open."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from accounts.models import SignInSession
from accounts.sessions import prune_ended_sessions
from core.db import utcnow
from tests.accounts.helpers import csrf_from, form_token, sign_in
from tests.web.conftest import NEW_PASSWORD, PASSWORD
from web.auth import login_link


def copy_of(client, app):
    """Another browser holding a copy of `client`'s session cookie."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief.set_cookie("session", cookie.value)
    return thief


def opens_account(client) -> bool:
    return client.get("/account").status_code == 200


def test_a_copied_cookie_opens_nothing_after_sign_out(client, app, ada):
    assert sign_in(client, "ada", PASSWORD).status_code == 303
    thief = copy_of(client, app)
    assert opens_account(thief)  # positive control: the copy works while signed in
    client.post("/logout", data={"csrf_token": form_token(client, "/account")})
    assert not opens_account(client)
    assert not opens_account(thief)


def test_a_password_change_signs_out_every_other_browser(client, app, ada):
    sign_in(client, "ada", PASSWORD)
    other = app.test_client()
    sign_in(other, "ada", PASSWORD)
    thief = copy_of(client, app)
    response = client.post(
        "/account/password",
        data={
            "csrf_token": form_token(client, "/account"),
            "current": PASSWORD,
            "password": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
        },
    )
    assert response.status_code in (200, 303), response.get_data(as_text=True)
    assert opens_account(client)  # this browser carries on
    assert not opens_account(other)
    assert not opens_account(thief)  # the old cookie of this very browser, too


def test_a_login_link_signs_in_once(client, app, settings):
    path = login_link(settings, "owner@example.com").removeprefix(settings.base_url)
    form = client.get(path).get_data(as_text=True)
    assert client.post(path, data={"csrf_token": csrf_from(form)}).status_code == 303
    assert "owner@example.com" in client.get("/").get_data(as_text=True)
    again = app.test_client()
    form = again.get(path).get_data(as_text=True)
    refused = again.post(path, data={"csrf_token": csrf_from(form)})
    assert refused.status_code == 400
    assert "used already" in refused.get_data(as_text=True)
    assert "owner@example.com" not in again.get("/").get_data(as_text=True)
    fresh = login_link(settings, "owner@example.com").removeprefix(settings.base_url)
    assert fresh != path  # a new link, even within the same second, is its own
    form = again.get(fresh).get_data(as_text=True)
    assert again.post(fresh, data={"csrf_token": csrf_from(form)}).status_code == 303


def test_a_login_link_into_an_account_signs_in_once(client, app, settings, ada):
    path = login_link(settings, "ada@example.org").removeprefix(settings.base_url)
    form = client.get(path).get_data(as_text=True)
    assert client.post(path, data={"csrf_token": csrf_from(form)}).status_code == 303
    assert opens_account(client)
    again = app.test_client()
    form = again.get(path).get_data(as_text=True)
    assert again.post(path, data={"csrf_token": csrf_from(form)}).status_code == 400
    assert not opens_account(again)


def test_an_address_session_ends_on_the_server_at_sign_out(client, app, settings):
    path = login_link(settings, "owner@example.com").removeprefix(settings.base_url)
    form = client.get(path).get_data(as_text=True)
    client.post(path, data={"csrf_token": csrf_from(form)})
    thief = copy_of(client, app)
    assert "owner@example.com" in thief.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    assert "owner@example.com" not in thief.get("/").get_data(as_text=True)


def test_ended_sessions_are_forgotten_after_a_day(client, session, ada):
    sign_in(client, "ada", PASSWORD)
    client.post("/logout", data={"csrf_token": form_token(client, "/account")})
    sign_in(client, "ada", PASSWORD)
    assert prune_ended_sessions(session) == 0
    assert prune_ended_sessions(session, utcnow() + timedelta(days=2)) == 1
    session.commit()
    assert session.scalar(select(func.count()).select_from(SignInSession)) == 1
    assert opens_account(client)


def test_a_password_reset_signs_out_every_browser_but_the_one_that_reset(
    client, app, session, ada, relay_settings, sink
):
    from tests.accounts.helpers import link_in

    signed_in = app.test_client()
    sign_in(signed_in, "ada", PASSWORD)
    thief = copy_of(signed_in, app)
    client.post(
        "/account/reset",
        data={"csrf_token": form_token(client, "/account/reset"), "address": "ada@example.org"},
    )
    [mail] = sink.received
    link = link_in(mail.content, "/account/reset/")
    done = client.post(
        link,
        data={
            "csrf_token": form_token(client, link),
            "password": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
        },
    )
    assert done.status_code == 303
    assert opens_account(client)
    assert not opens_account(signed_in) and not opens_account(thief)
    session.expire_all()
    live = session.scalars(select(SignInSession).where(SignInSession.ended_at.is_(None))).all()
    assert len(live) == 1  # the other sessions are ended on the server, not only stale
