"""Account flows as a person goes through them in a browser, with the mails really sent
through the outbox to a real SMTP sink and their links followed."""

from __future__ import annotations

from accounts.access import actor_for_address
from accounts.passwords import check_password
from accounts.users import find_user
from tests.accounts.helpers import body_of, follow_confirm_link, form_token, link_in, sign_in
from tests.web.conftest import NEW_PASSWORD, PASSWORD


def signed_in_as(client) -> str | None:
    page = client.get("/").get_data(as_text=True)
    if 'href="/account">~' not in page:
        return None
    return page.split('href="/account">~', 1)[1].split("<", 1)[0]


def test_sign_up_confirm_by_mail_sign_in_and_out(client, session, relay_settings, sink):
    page = client.get("/signup").get_data(as_text=True)
    assert 'name="csrf_token"' in page and 'autocomplete="new-password"' in page
    response = client.post(
        "/signup",
        data={
            "csrf_token": form_token(client, "/signup"),
            "username": "Bea",
            "address": "Bea@Example.org",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "Check your mail" in response.get_data(as_text=True)
    bea = find_user(session, "bea")
    assert bea.confirmed_at is None and bea.password_hash.startswith("$argon2id$")
    assert PASSWORD not in bea.password_hash

    [mail] = sink.received
    assert mail.rcpt_tos == ["Bea@example.org"] and mail.mail_from == "<>"  # a null sender
    assert b"Auto-Submitted: auto-generated" in mail.content
    assert b"Subject: Confirm your account ~bea" in mail.content
    link = link_in(mail.content, "/account/confirm/")

    # Not confirmed yet: the right password still does not sign in.
    response = sign_in(client, "bea", PASSWORD)
    assert response.status_code == 403
    assert "not confirmed yet" in response.get_data(as_text=True)
    assert signed_in_as(client) is None

    session.expire_all()
    assert find_user(session, "bea").confirmed_at is None  # opening the link is not enough
    client.get(link)
    session.expire_all()
    assert find_user(session, "bea").confirmed_at is None
    done = follow_confirm_link(client, link)
    assert done.status_code == 200 and "~bea is ready" in done.get_data(as_text=True)
    session.expire_all()
    assert find_user(session, "bea").confirmed_at is not None

    response = sign_in(client, "bea@example.org", PASSWORD)
    assert response.status_code == 303 and response.location.endswith("/account")
    assert signed_in_as(client) == "bea"
    account = client.get("/account").get_data(as_text=True)
    assert "Bea@example.org" in account and "primary" in account

    out = client.post("/logout", data={"csrf_token": form_token(client, "/account")})
    assert out.status_code == 303
    assert signed_in_as(client) is None
    assert client.get("/account").status_code == 303  # back to the sign-in form


def test_a_wrong_password_or_name_does_not_sign_in_and_says_the_same(client, ada):
    wrong = sign_in(client, "ada", "not the password")
    nobody = sign_in(client, "nobody", PASSWORD)
    for response in (wrong, nobody):
        assert response.status_code == 401
        assert "do not match an account" in response.get_data(as_text=True)
    assert signed_in_as(client) is None
    assert sign_in(client, "ADA", PASSWORD).status_code == 303
    assert signed_in_as(client) == "ada"


def test_sign_in_goes_back_to_the_page_asked_for_and_never_elsewhere(client, ada):
    assert client.get("/account").location.endswith("/login?next=/account")
    assert sign_in(client, "ada", PASSWORD, "/account#tokens").location.endswith("/account#tokens")
    client.post("/logout", data={"csrf_token": form_token(client, "/account")})
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = sign_in(client, "ada", PASSWORD, elsewhere)
        assert response.location.endswith("/account"), elsewhere
        client.post("/logout", data={"csrf_token": form_token(client, "/account")})


def test_an_unconfirmed_account_can_have_its_confirmation_sent_again(
    client, session, relay_settings, sink
):
    client.post(
        "/signup",
        data={
            "csrf_token": form_token(client, "/signup"),
            "username": "bea",
            "address": "bea@example.org",
            "password": PASSWORD,
        },
    )
    page = sign_in(client, "bea", PASSWORD).get_data(as_text=True)
    token = page.split('name="token" value="', 1)[1].split('"', 1)[0]
    again = client.post(
        "/account/confirm/resend", data={"csrf_token": form_token(client), "token": token}
    )
    assert again.status_code == 200 and "sent again" in again.get_data(as_text=True)
    assert len(sink.received) == 2
    assert follow_confirm_link(client, link_in(sink.received[1].content, "/account/confirm/"))
    assert sign_in(client, "bea", PASSWORD).status_code == 303


def test_signing_up_with_a_taken_address_tells_its_owner_and_nobody_else(
    client, session, ada, relay_settings, sink
):
    response = client.post(
        "/signup",
        data={
            "csrf_token": form_token(client, "/signup"),
            "username": "mallory",
            "address": "ADA@example.org",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 200 and "Check your mail" in response.get_data(as_text=True)
    assert find_user(session, "mallory") is None
    [mail] = sink.received
    assert mail.rcpt_tos == ["ADA@example.org"]
    assert "already belongs to the account ~ada" in body_of(mail.content)


def test_sign_up_form_errors_are_shown_escaped(client, session):
    response = client.post(
        "/signup",
        data={
            "csrf_token": form_token(client, "/signup"),
            "username": "<b>x</b>",
            "address": "a@example.org",
            "password": PASSWORD,
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Invalid name" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_a_password_reset_by_mail_works_once(client, session, ada, relay_settings, sink):
    for address in ("ADA@example.org", "nobody@example.org"):
        response = client.post(
            "/account/reset",
            data={"csrf_token": form_token(client, "/account/reset"), "address": address},
        )
        text = response.get_data(as_text=True)
        assert response.status_code == 200 and "If " in text and "a link" in text
    [mail] = sink.received  # only the real address got one
    assert mail.rcpt_tos == ["ada@example.org"]
    link = link_in(mail.content, "/account/reset/")

    form = client.get(link)
    assert form.status_code == 200 and form.headers["Cache-Control"] == "no-store"
    csrf = form_token(client, link)
    differ = client.post(link, data={"csrf_token": csrf, "password": NEW_PASSWORD, "repeat": "x"})
    assert differ.status_code == 400 and "differ" in differ.get_data(as_text=True)
    done = client.post(
        link, data={"csrf_token": csrf, "password": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    )
    assert done.status_code == 303 and signed_in_as(client) == "ada"
    session.expire_all()
    assert check_password(find_user(session, "ada"), NEW_PASSWORD)

    used = client.get(link)
    assert used.status_code == 400 and "used already" in used.get_data(as_text=True)
    replay = client.post(
        link,
        data={"csrf_token": form_token(client, "/"), "password": PASSWORD, "repeat": PASSWORD},
    )
    assert replay.status_code == 400
    session.expire_all()
    assert check_password(find_user(session, "ada"), NEW_PASSWORD)


def test_changing_the_password_signs_out_other_browsers(app, client, session, ada):
    other = app.test_client()
    assert sign_in(other, "ada", PASSWORD).status_code == 303
    assert sign_in(client, "ada", PASSWORD).status_code == 303
    wrong = client.post(
        "/account/password",
        data={
            "csrf_token": form_token(client, "/account"),
            "current": "not the password",
            "password": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(
        as_text=True
    )
    response = client.post(
        "/account/password",
        data={
            "csrf_token": form_token(client, "/account"),
            "current": PASSWORD,
            "password": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
        },
    )
    assert response.status_code == 303
    assert "every other session is signed out" in client.get("/account").get_data(as_text=True)
    assert signed_in_as(client) == "ada"
    assert signed_in_as(other) is None
    assert sign_in(other, "ada", NEW_PASSWORD).status_code == 303


def test_an_added_address_is_confirmed_by_mail_and_then_acts_as_the_user(
    client, session, ada, relay_settings, sink
):
    sign_in(client, "ada", PASSWORD)
    response = client.post(
        "/account/addresses",
        data={"csrf_token": form_token(client, "/account"), "address": "Ada@Work.example"},
    )
    assert response.status_code == 303
    page = client.get("/account").get_data(as_text=True)
    assert "Ada@work.example" in page and "waiting for confirmation" in page
    assert actor_for_address(session, "ada@work.example").user_id is None

    [mail] = sink.received
    assert mail.rcpt_tos == ["Ada@work.example"]
    link = link_in(mail.content, "/account/addresses/confirm/")
    client.get(link)
    assert actor_for_address(session, "ada@work.example").user_id is None  # a GET is not enough
    done = follow_confirm_link(client, link)
    assert done.status_code == 200 and "now an address of your account" in done.get_data(
        as_text=True
    )
    actor = actor_for_address(session, "ADA@work.example")
    assert actor.user_id == ada.id and actor.username == "ada"

    # It can be made primary, and then the other one removed; the last one cannot go.
    page = client.get("/account").get_data(as_text=True)
    work_id = page.split("Ada@work.example", 1)[1].split("/account/addresses/", 1)[1]
    work_id = work_id.split("/", 1)[0]
    primary = client.post(
        f"/account/addresses/{work_id}/primary", data={"csrf_token": form_token(client, "/account")}
    )
    assert primary.status_code == 303
    assert sign_in(client, "ada@work.example", PASSWORD).status_code == 303
    last = client.post(
        f"/account/addresses/{work_id}/remove", data={"csrf_token": form_token(client, "/account")}
    )
    assert last.status_code == 303  # ada@example.org remains
    only = client.get("/account").get_data(as_text=True)
    first_id = only.split("/account/addresses/", 1)[1].split("/", 1)[0]
    refused = client.post(
        f"/account/addresses/{first_id}/remove", data={"csrf_token": form_token(client, "/account")}
    )
    assert refused.status_code == 400 and "only confirmed address" in refused.get_data(as_text=True)
