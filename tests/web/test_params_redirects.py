"""Redirects go to this site only: `next=` after signing in takes a path on this site
and nothing a browser could read as another one, and absolute URLs are built from
MAILYARD_BASE_URL, never from the Host header a client sent. X-Forwarded-* headers are
believed only when MAILYARD_TRUSTED_PROXIES says a proxy sets them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import request

from mailyard.wiring import BLUEPRINTS
from tests.accounts.helpers import make_user, sign_in_user
from trackers.tickets import create_tracker
from web.app import create_app
from web.context import local_path

HOSTILE_NEXT = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nSet-Cookie: x=1",
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    " /account",
    "/ /evil.example",
    "/\u3000/evil.example",
    "/\x7f/evil.example",
    "/" + "a" * 5000,
]


@pytest.mark.parametrize("wanted", HOSTILE_NEXT)
def test_next_is_a_path_on_this_site_or_nothing(client, session, wanted):
    sign_in_user(client, make_user(session, "ada", "ada@example.org"))
    response = client.get("/login", query_string={"next": wanted})
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"


@pytest.mark.parametrize("wanted", ["/account#tokens", "/dev/?q=a%20b", "/~ada", "/"])
def test_next_to_a_path_here_is_followed(client, session, wanted):
    sign_in_user(client, make_user(session, "ada", "ada@example.org"))
    response = client.get("/login", query_string={"next": wanted})
    assert response.headers["Location"] == wanted


@pytest.mark.parametrize("wanted", HOSTILE_NEXT)
def test_local_path_refuses_what_a_browser_could_read_as_elsewhere(wanted):
    assert local_path(wanted) is None


@pytest.mark.parametrize(
    "path", ["/pub", "/bugs/tickets/1", "/pub/one@example.com", "/pub/one@example.com/t"]
)
def test_redirects_follow_the_base_url_not_the_host_header(client, seed, session, settings, path):
    mlist = seed.make_list("pub")
    seed.post(mlist, "one@example.com")
    create_tracker(session, "bugs", "owner@example.com")
    session.commit()
    response = client.get(path, headers={"Host": "evil.example"})
    assert response.status_code in (301, 302, 303, 307, 308), response.status_code
    location = response.headers["Location"]
    assert "evil.example" not in location
    assert location.startswith(settings.base_url + "/") or location.startswith("/")


def _app_showing_the_client(settings):
    app = create_app(settings, BLUEPRINTS)
    app.testing = True

    @app.get("/_test/client")
    def client_seen():
        return f"{request.remote_addr} {request.scheme} {request.host}"

    return app.test_client()


def test_forwarded_headers_are_ignored_unless_a_proxy_is_configured(settings):
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example"}
    seen = _app_showing_the_client(settings).get(
        "/_test/client", headers=forwarded, environ_base={"REMOTE_ADDR": "192.0.2.1"}
    )
    assert seen.get_data(as_text=True) == "192.0.2.1 http archive.example.org"
    behind_proxy = replace(settings, trusted_proxies=1)
    seen = _app_showing_the_client(behind_proxy).get(
        "/_test/client", headers=forwarded, environ_base={"REMOTE_ADDR": "192.0.2.1"}
    )
    # The client is the proxy's X-Forwarded-For; the host is still the base URL's.
    assert seen.get_data(as_text=True) == "203.0.113.9 http archive.example.org"
