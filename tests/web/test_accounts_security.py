"""What keeps accounts safe on the web: CSRF tokens on every form, rate limits with
429 and Retry-After, session cookies, and only escaped text."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from accounts.models import RateLimitHit, User
from accounts.ratelimit import LOGIN_PER_ACCOUNT, LOGIN_PER_IP, RESET_PER_ADDRESS
from mailyard.wiring import BLUEPRINTS
from tests.accounts.helpers import form_token, sign_in
from tests.web.conftest import PASSWORD
from web.app import create_app


@pytest.mark.parametrize(
    "path, data",
    [
        ("/signup", {"username": "bea", "address": "bea@example.org", "password": PASSWORD}),
        ("/login", {"login": "ada", "password": PASSWORD}),
        ("/account/reset", {"address": "ada@example.org"}),
        ("/account/confirm/resend", {"token": "x"}),
        ("/account/confirm/some-token", {}),
        ("/account/addresses/confirm/some-token", {}),
        ("/account/reset/some-token", {"password": PASSWORD, "repeat": PASSWORD}),
    ],
)
def test_forms_without_their_csrf_token_are_refused(client, session, ada, path, data):
    form_token(client)  # the session has a token; the post does not carry it
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(
    "path, data",
    [
        ("/account/addresses", {"address": "x@example.org"}),
        ("/account/addresses/1/primary", {}),
        ("/account/addresses/1/remove", {}),
        ("/account/password", {"current": PASSWORD, "password": "x" * 12, "repeat": "x" * 12}),
        ("/account/ssh-keys", {"key": "ssh-ed25519 AAAA"}),
        ("/account/ssh-keys/1/remove", {}),
        ("/account/pgp-keys", {"key": "x"}),
        ("/account/pgp-keys/1/remove", {}),
        ("/account/tokens", {"name": "ci", "days": "30"}),
        ("/account/tokens/1/revoke", {}),
    ],
)
def test_account_forms_need_the_csrf_token_even_when_signed_in(client, ada, path, data):
    sign_in(client, "ada", PASSWORD)
    assert client.post(path, data=data).status_code == 400
    assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400


def test_account_forms_refuse_anyone_not_signed_in(client, ada):
    response = client.post(
        "/account/tokens", data={"csrf_token": form_token(client), "name": "x", "days": "30"}
    )
    assert response.status_code == 403


def test_password_guessing_is_stopped_per_account_with_429(client, ada):
    for _ in range(LOGIN_PER_ACCOUNT.count):
        assert sign_in(client, "ada", "wrong password").status_code == 401
    limited = sign_in(client, "ada", PASSWORD)  # even the right one, for now
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= LOGIN_PER_ACCOUNT.seconds
    page = limited.get_data(as_text=True)
    assert "Too many attempts" in page and "5 per 15 minutes" in page
    assert limited.headers["Content-Type"].startswith("text/html")
    # The limit is the account's, whichever name for it is typed.
    assert sign_in(client, "ada@example.org", PASSWORD).status_code == 429


def test_sign_in_attempts_are_limited_per_ip(client, ada):
    for n in range(LOGIN_PER_IP.count):
        assert sign_in(client, f"nobody{n}", PASSWORD).status_code == 401
    assert sign_in(client, "ada", PASSWORD).status_code == 429


def test_resets_are_limited_per_address_and_answer_alike_for_unknown_ones(
    client, session, ada, relay_settings, sink
):
    for address in ("ada@example.org", "nobody@example.org"):
        answers = [
            client.post(
                "/account/reset", data={"csrf_token": form_token(client), "address": address}
            ).status_code
            for _ in range(RESET_PER_ADDRESS.count + 1)
        ]
        assert answers == [200] * RESET_PER_ADDRESS.count + [429]
    assert len(sink.received) == RESET_PER_ADDRESS.count


def test_sign_ups_are_limited_per_ip(client, session, relay_settings, sink):
    answers = []
    for n in range(6):
        response = client.post(
            "/signup",
            data={
                "csrf_token": form_token(client),
                "username": f"user{n}",
                "address": f"user{n}@example.org",
                "password": PASSWORD,
            },
        )
        answers.append(response.status_code)
    assert answers == [200] * 5 + [429]
    assert session.scalar(select(func.count()).select_from(User)) == 5
    hits = session.scalars(select(RateLimitHit.key).where(RateLimitHit.key.like("signup:ip:%")))
    assert set(hits) == {"signup:ip:127.0.0.1"}


def test_the_session_cookie_is_http_only_lax_lasting_and_secure_over_https(settings, ada):
    client = create_app(settings, BLUEPRINTS).test_client()
    cookie = sign_in(client, "ada", PASSWORD).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie
    https = create_app(
        replace(settings, base_url="https://lists.example.org"), BLUEPRINTS
    ).test_client()
    cookie = sign_in(https, "ada", PASSWORD).headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_account_pages_carry_the_strict_policy_and_no_script(client, ada):
    pages = [client.get(path) for path in ("/signup", "/login", "/account/reset")]
    sign_in(client, "ada", PASSWORD)
    pages.append(client.get("/account"))
    for response in pages:
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert "<script" not in page and "style=" not in page
        assert page.count("<form") == page.count('name="csrf_token"')


def test_a_form_larger_than_any_key_is_refused_before_it_is_read(client):
    response = client.post("/login", data={"login": "x" * (2 * 1024 * 1024), "password": "y"})
    assert response.status_code == 413
