"""Refused web forms come back as the form (400, HTML), filled in as sent, with the
reason beside the field it is about: nothing typed is lost, and a form that does several
things (the triage box) does all of them or none."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.web.test_trackers import bugs, csrf_from, sign_in  # noqa: F401  fixtures
from trackers.tickets import get_ticket

DESCRIPTION = "Steps:\n1. open <the> widget & click\n2. it crashes"


def refused_page(response) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def field_error(html: str, field: str) -> str:
    """The message shown beside `field`."""
    found = re.search(
        rf'<p class="[^"]*field-error[^"]*" id="{field}-error"[^>]*>([^<]*)</p>', html
    )
    assert found, html
    return unescape(found.group(1))


def textarea(html: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    assert found, html
    return unescape(found.group(1))


def test_a_blank_ticket_title_keeps_the_description(client, bugs, settings):  # noqa: F811
    token = sign_in(client, settings, "ada@example.com")
    response = client.post(
        "/bugs/tickets/new",
        data={"csrf_token": token, "title": "   ", "description": DESCRIPTION},
    )
    html = refused_page(response)
    assert "needs a title" in field_error(html, "title")
    assert textarea(html, "description") == DESCRIPTION
    assert 'aria-invalid="true" aria-describedby="title-error"' in html


def test_a_triage_box_with_one_unknown_command_changes_nothing_and_keeps_the_text(
    client,
    bugs,  # noqa: F811
    settings,
    session,
):
    token = sign_in(client, settings, "owner@example.com")
    commands = "!label ui\n!frobnicate now\n!status confirmed"
    response = client.post(
        "/bugs/tickets/3/triage", data={"csrf_token": token, "commands": commands}
    )
    html = refused_page(response)
    error = field_error(html, "commands")
    assert "!frobnicate" in error and "Nothing was changed" in error
    assert textarea(html, "commands") == commands
    session.expire_all()
    ticket = get_ticket(session, bugs.id, 3)
    assert ticket.status.value != "confirmed" and "ui" not in (ticket.labels or [])
    # positive control: the same box without the unknown line applies both
    applied = client.post(
        "/bugs/tickets/3/triage",
        data={"csrf_token": token, "commands": "!label ui\n!status confirmed"},
    )
    assert applied.status_code == 303
    session.expire_all()
    assert get_ticket(session, bugs.id, 3).status.value == "confirmed"


def test_a_triage_command_refused_while_applying_undoes_the_others(
    client,
    bugs,  # noqa: F811
    settings,
    session,
):
    token = sign_in(client, settings, "owner@example.com")
    commands = "!status confirmed\n!assign not an address"
    html = refused_page(
        client.post("/bugs/tickets/3/triage", data={"csrf_token": token, "commands": commands})
    )
    assert "!assign not an address" in field_error(html, "commands")
    assert textarea(html, "commands") == commands
    session.expire_all()
    assert get_ticket(session, bugs.id, 3).status.value != "confirmed"


def test_an_empty_comment_is_refused_beside_the_box(client, bugs, settings):  # noqa: F811
    token = sign_in(client, settings, "ada@example.com")
    html = refused_page(
        client.post("/bugs/tickets/1/comment", data={"csrf_token": token, "text": "  \n "})
    )
    assert "comment is empty" in field_error(html, "text")
    assert "Crash on start" in html  # the ticket page itself, not a bare error


def test_a_refused_title_edit_keeps_the_title_typed(client, bugs, settings):  # noqa: F811
    token = sign_in(client, settings, "owner@example.com")
    html = refused_page(
        client.post("/bugs/tickets/1/edit", data={"csrf_token": token, "title": " \t "})
    )
    assert field_error(html, "title")
    assert 'value=" \t "' in html


# -- every other form that can be refused: the same answer -------------------------------


@pytest.fixture
def ora(session):
    from accounts.groups import create_group
    from lists.manage import create_list
    from tests.accounts.helpers import make_user
    from trackers.tickets import create_tracker

    user = make_user(session, "ora")
    create_group(session, "acme", user, "")
    session.commit()
    create_list(session, "dev", "ora@example.com")
    create_tracker(session, "todo", "ora@example.com")
    session.commit()
    return user


def test_a_refused_sign_up_says_why_beside_the_username_and_keeps_the_address(client):
    from tests.accounts.helpers import form_token

    response = client.post(
        "/signup",
        data={
            "csrf_token": form_token(client, "/signup"),
            "username": "9 bad name",
            "address": "bea@example.org",
            "password": "a long enough password",
        },
    )
    html = refused_page(response)
    assert "name" in field_error(html, "username").lower()
    assert 'value="bea@example.org"' in html


@pytest.mark.parametrize(
    ("url", "form", "field", "kept"),
    [
        ("/account/ssh-keys", {"key": "ssh-ed25519 not-a-key me@host"}, "ssh-key", "not-a-key"),
        ("/account/pgp-keys", {"key": "not an armored key"}, "pgp-key", "not an armored key"),
        ("/account/addresses", {"address": "not an address"}, "address", "not an address"),
        ("/account/tokens", {"name": "ci-token", "days": "7000"}, "token", "ci-token"),
        (
            "/todo/tickets/settings",
            {"action": "grant", "who": "~nobody-here", "rights": "browse"},
            "who",
            "~nobody-here",
        ),
        (
            "/dev/settings",
            {"action": "grant", "who": "~nobody-here", "rights": "browse"},
            "who",
            "~nobody-here",
        ),
        (
            "/~acme/members",
            {"action": "add", "username": "nobody-here", "role": "maintainer"},
            "username",
            "nobody-here",
        ),
        (
            "/groups/new",
            {"name": "9 bad", "description": "the <best> group"},
            "name",
            "the <best> group",
        ),
        (
            "/projects/new",
            {"owner": "ora", "name": "bad name!", "description": "my project"},
            None,
            "my project",
        ),
    ],
)
def test_every_refused_form_comes_back_filled_in_with_the_reason(
    client, ora, url, form, field, kept
):
    from tests.accounts.helpers import post_form, sign_in_user

    sign_in_user(client, ora)
    html = refused_page(post_form(client, url, **form))
    if field is not None:
        assert field_error(html, field)
    else:
        assert 'class="note error" role="alert"' in html
    assert kept in unescape(html)


def test_a_refused_project_link_keeps_what_was_typed(client, session, ora):
    from accounts.groups import get_group
    from accounts.projects import create_project
    from tests.accounts.helpers import post_form, sign_in_user

    create_project(session, get_group(session, "acme"), "widget", "")
    session.commit()
    sign_in_user(client, ora)
    html = refused_page(
        post_form(client, "/~acme/widget/settings", action="link", link="list:nosuchlist")
    )
    assert "nosuchlist" in field_error(html, "link")
    assert 'value="list:nosuchlist"' in html


def test_a_description_too_long_for_the_form_keeps_the_title_and_says_so_beside_it(
    client,
    bugs,  # noqa: F811
    settings,
):
    from web.forms import FORM_MAX

    token = sign_in(client, settings, "ada@example.com")
    long_log = "a log line\n" * (FORM_MAX // 10)
    response = client.post(
        "/bugs/tickets/new",
        data={"csrf_token": token, "title": "Crash with a long log", "description": long_log},
    )
    html = refused_page(response)
    assert "too long" in field_error(html, "description")
    assert 'value="Crash with a long log"' in html
