"""Keys and API tokens on the account page, and the public key files /~USER.keys and
/~USER.pgp."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.models import ApiToken
from accounts.tokens import hash_token
from accounts.users import create_user
from core.db import utcnow
from tests.accounts.helpers import (
    ED25519,
    ED25519_FINGERPRINT,
    form_token,
    make_pgp_keys,
    sign_in,
    ssh_keygen,
)
from tests.web.conftest import PASSWORD


@pytest.fixture
def ada(client, session):
    user = create_user(session, "ada", "ada@example.org", password=PASSWORD)
    session.commit()
    assert sign_in(client, "ada", PASSWORD).status_code == 303
    return user


@pytest.fixture(scope="module")
def pgp():
    return make_pgp_keys("ada@example.org", "someone@example.net")


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": form_token(client, "/account"), **data})


def test_ssh_keys_are_added_served_and_removed(client, ada, tmp_path):
    assert client.get("/~ada.keys").get_data(as_text=True) == ""
    assert post(client, "/account/ssh-keys", key=ED25519 + "\n").status_code == 303
    made = ssh_keygen(tmp_path, "ecdsa", 384)
    second = made[0] if made else None
    if second:
        assert post(client, "/account/ssh-keys", key=second).status_code == 303
    page = client.get("/account").get_data(as_text=True)
    assert ED25519_FINGERPRINT in page and "The SSH key" in page
    if made:
        assert made[1] in page

    served = client.get("/~ada.keys")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
    expected = [ED25519] + ([second] if second else [])
    assert served.get_data(as_text=True).splitlines() == expected
    assert client.get("/~ADA.keys").get_data(as_text=True) == served.get_data(as_text=True)

    refused = post(client, "/account/ssh-keys", key="ssh-ed25519 AAAA-not-a-key")
    assert refused.status_code == 400 and "not valid base64" in refused.get_data(as_text=True)

    key_id = re.search(r"/account/ssh-keys/(\d+)/remove", page).group(1)
    assert post(client, f"/account/ssh-keys/{key_id}/remove").status_code == 303
    assert ED25519 not in client.get("/~ada.keys").get_data(as_text=True)


def test_key_files_of_an_unknown_user_are_404(client):
    for path in ("/~nobody.keys", "/~nobody.pgp"):
        response = client.get(path)
        assert response.status_code == 404 and "no user named ~nobody" in response.get_data(
            as_text=True
        )


def test_pgp_keys_are_added_served_and_refused_with_a_reason(client, ada, pgp):
    fingerprint, armored = pgp["ada@example.org"]
    assert post(client, "/account/pgp-keys", key=armored).status_code == 303
    page = client.get("/account").get_data(as_text=True)
    assert fingerprint in page

    served = client.get("/~ada.pgp")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
    text = served.get_data(as_text=True)
    assert text.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert text.strip() == armored.strip().replace("\r\n", "\n")

    other_fpr, other = pgp["someone@example.net"]
    refused = post(client, "/account/pgp-keys", key=other)
    reason = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert other_fpr in reason and "someone@example.net" in reason
    assert "none of that is a confirmed address of your account" in reason
    assert other_fpr not in client.get("/~ada.pgp").get_data(as_text=True)

    key_id = re.search(r"/account/pgp-keys/(\d+)/remove", page).group(1)
    assert post(client, f"/account/pgp-keys/{key_id}/remove").status_code == 303
    assert client.get("/~ada.pgp").get_data(as_text=True) == ""


def test_an_api_token_is_shown_once_acts_as_its_user_and_can_be_revoked(app, client, session, ada):
    made = post(client, "/account/tokens", name="ci <bot>", days="30")
    page = made.get_data(as_text=True)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    token = re.search(r"(my_[A-Za-z0-9_-]{43})", page).group(1)
    assert "ci &lt;bot&gt;" in page and "ci <bot>" not in page
    row = session.scalar(select(ApiToken))
    assert row.token_hash == hash_token(token) and row.name == "ci <bot>"
    assert token not in client.get("/account").get_data(as_text=True)  # shown once

    api = app.test_client()  # no cookies: the header alone
    bearer = {"Authorization": f"Bearer {token}"}
    account = api.get("/account", headers=bearer)
    assert account.status_code == 200 and "~ada" in account.get_data(as_text=True)
    # A token needs no CSRF token: no other site can make a browser send the header.
    added = api.post("/account/ssh-keys", headers=bearer, data={"key": ED25519})
    assert added.status_code == 303
    assert api.get("/~ada.keys").get_data(as_text=True) == ED25519 + "\n"
    session.expire_all()
    assert session.get(ApiToken, row.id).last_used_at is not None

    revoked = post(client, f"/account/tokens/{row.id}/revoke")
    assert revoked.status_code == 303
    refused = api.get("/account", headers=bearer)
    assert refused.status_code == 401
    assert "'ci <bot>' was revoked" in refused.get_data(as_text=True)
    assert refused.headers["WWW-Authenticate"].startswith('Bearer realm="mailyard"')
    assert "revoked" in client.get("/account").get_data(as_text=True)


def test_expired_unknown_and_malformed_tokens_get_401(app, client, session, ada):
    made = post(client, "/account/tokens", name="old", days="7")
    token = re.search(r"(my_[A-Za-z0-9_-]{43})", made.get_data(as_text=True)).group(1)
    row = session.scalar(select(ApiToken))
    row.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    api = app.test_client()
    for value, reason in (
        (f"Bearer {token}", "'old' expired on"),
        ("Bearer my_" + "x" * 43, "unknown API token"),
        ("Bearer secret", "not a Mailyard API token"),
    ):
        response = api.get("/", headers={"Authorization": value})
        assert response.status_code == 401 and reason in response.get_data(as_text=True)
    assert "expired" in client.get("/account").get_data(as_text=True)
    refused = post(client, "/account/tokens", name="forever", days="100000")
    assert refused.status_code == 400 and "Choose a lifetime" in refused.get_data(as_text=True)
