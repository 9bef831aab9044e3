"""Tracker rights on the web: a tracker someone may not browse is a 404 everywhere and
missing from /trackers/; the forms for submit, comment, edit and triage follow their
rights; the settings page is for managers (a group's maintainers too)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from accounts.access import entries_of
from accounts.groups import create_group, set_member
from accounts.models import GroupRole
from tests.accounts.helpers import make_user, post_form, sign_in_user
from trackers.access import set_access, set_default_rights, set_owner_group, set_visibility
from trackers.commands import Status
from trackers.models import EventKind, TicketEvent, Tracker
from trackers.tickets import Origin, create_tracker, get_ticket, open_ticket

OWNER = "owner@example.org"


@pytest.fixture
def people(session):
    ora = make_user(session, "ora")
    mia = make_user(session, "mia")
    max_ = make_user(session, "max")
    eve = make_user(session, "eve")
    acme = create_group(session, "acme", ora)
    set_member(session, acme, mia, GroupRole.maintainer)
    set_member(session, acme, max_, GroupRole.member)
    other = create_group(session, "other", eve)
    session.commit()
    return {"ora": ora, "mia": mia, "max": max_, "eve": eve, "acme": acme, "other": other}


@pytest.fixture
def sec(session, people):
    """`sec`: ~acme's private tracker with ticket #1."""
    tracker = create_tracker(session, "sec", OWNER, "Security")
    set_visibility(tracker, "private")
    set_owner_group(tracker, people["acme"])
    open_ticket(session, tracker, "Overflow", "Details.\n", Origin("ora@example.com"))
    session.commit()
    return tracker


ROUTES = (
    "/sec/tickets/",
    "/sec/tickets/1/",
    "/sec/tickets/new",
    "/sec/tickets/style.css",
    "/sec/tickets/settings",
    "/sec/tickets/export.json.gz",
)


@pytest.mark.parametrize("who", [None, "eve"])
def test_a_private_tracker_is_404_everywhere_for_strangers(client, people, sec, who):
    sign_in_user(client, people[who] if who else None)
    for url in ROUTES:
        assert client.get(url).status_code == 404, url
    forms = ("/sec/tickets/1/comment", "/sec/tickets/new", "/sec/tickets/1/edit")
    if who:
        for url in (*forms, "/sec/tickets/1/triage", "/sec/tickets/settings"):
            assert (
                post_form(client, url, text="x", title="x", commands="!reopen").status_code == 404
            )
    assert "/sec/tickets/" not in client.get("/trackers/").get_data(as_text=True)


def test_a_group_member_browses_the_private_tracker_but_not_its_settings(client, people, sec):
    sign_in_user(client, people["max"])
    for url in ROUTES[:4]:
        assert client.get(url).status_code == 200, url
    assert client.get("/sec/tickets/settings").status_code == 403
    assert client.get("/sec/tickets/export.json.gz").status_code == 403
    assert 'href="/sec/tickets/"' in client.get("/trackers/").get_data(as_text=True)


def test_unlisted_trackers_are_off_the_index_but_open_by_address(client, session, people):
    hidden = create_tracker(session, "hidden", OWNER)
    set_visibility(hidden, "unlisted")
    session.commit()
    assert "/hidden/tickets/" not in client.get("/trackers/").get_data(as_text=True)
    assert client.get("/hidden/tickets/").status_code == 200


def test_refs_to_a_private_trackers_tickets_are_not_linked_for_strangers(
    client, session, people, sec
):
    public = create_tracker(session, "bugs", OWNER)
    open_ticket(session, public, "See sec#1", "Related to sec#1.\n", Origin("a@example.com"))
    session.commit()
    html = client.get("/bugs/tickets/1/").get_data(as_text=True)
    assert 'href="/sec/tickets/1/"' not in html
    sign_in_user(client, people["max"])
    assert 'href="/sec/tickets/1/"' in client.get("/bugs/tickets/1/").get_data(as_text=True)


# -- the forms, right by right --------------------------------------------------------------


@pytest.fixture
def bugs(session, people):
    """`bugs`: public, defaults browse only; ~eve may submit, ~max may comment, ~mia may
    edit, ~ora may triage (by entries)."""
    tracker = create_tracker(session, "bugs", OWNER)
    set_default_rights(tracker, "browse")
    for name, rights in (
        ("eve", "browse,submit"),
        ("max", "browse,comment"),
        ("mia", "browse,edit"),
        ("ora", "browse,triage"),
    ):
        set_access(session, tracker, rights, user_id=people[name].id)
    open_ticket(session, tracker, "Crash", "It crashes.\n", Origin("a@example.com"))
    session.commit()
    return tracker


def test_submit_is_needed_to_open_a_ticket_on_the_web(client, session, people, bugs):
    sign_in_user(client, people["max"])
    html = client.get("/bugs/tickets/new").get_data(as_text=True)
    assert "You may not open tickets on bugs" in html and "disabled" in html
    assert post_form(client, "/bugs/tickets/new", title="x").status_code == 403
    sign_in_user(client, people["eve"])
    assert 'name="csrf_token"' in client.get("/bugs/tickets/new").get_data(as_text=True)
    response = post_form(client, "/bugs/tickets/new", title="Dark mode")
    assert response.status_code == 303 and response.location == "/bugs/tickets/2/"


def test_comment_is_needed_to_comment_on_the_web(client, session, people, bugs):
    sign_in_user(client, people["eve"])
    html = client.get("/bugs/tickets/1/").get_data(as_text=True)
    assert 'action="/bugs/tickets/1/comment"' not in html
    assert post_form(client, "/bugs/tickets/1/comment", text="hi").status_code == 403
    sign_in_user(client, people["max"])
    assert 'action="/bugs/tickets/1/comment"' in client.get("/bugs/tickets/1/").get_data(
        as_text=True
    )
    assert post_form(client, "/bugs/tickets/1/comment", text="Me too").status_code == 303


def test_edit_is_needed_to_change_the_title_on_the_web(client, session, people, bugs):
    sign_in_user(client, people["max"])
    assert 'action="/bugs/tickets/1/edit"' not in client.get("/bugs/tickets/1/").get_data(
        as_text=True
    )
    assert post_form(client, "/bugs/tickets/1/edit", title="New").status_code == 403
    sign_in_user(client, people["mia"])
    assert 'action="/bugs/tickets/1/edit"' in client.get("/bugs/tickets/1/").get_data(as_text=True)
    assert post_form(client, "/bugs/tickets/1/edit", title="  ").status_code == 400
    assert post_form(client, "/bugs/tickets/1/edit", title="Crash on <start>").status_code == 303
    session.expire_all()
    ticket = get_ticket(session, bugs.id, 1)
    assert ticket.title == "Crash on <start>"
    event = session.scalars(select(TicketEvent).where(TicketEvent.kind == EventKind.title)).one()
    assert event.actor == "mia@example.com" and event.authenticated == "web"
    assert "Crash on &lt;start&gt;" in client.get("/bugs/tickets/1/").get_data(as_text=True)


def test_triage_is_needed_for_the_web_commands(client, session, people, bugs):
    sign_in_user(client, people["mia"])
    assert (
        post_form(client, "/bugs/tickets/1/triage", commands="!status confirmed").status_code == 403
    )
    sign_in_user(client, people["ora"])
    assert 'action="/bugs/tickets/1/triage"' in client.get("/bugs/tickets/1/").get_data(
        as_text=True
    )
    bad = post_form(client, "/bugs/tickets/1/triage", commands="!status confirmed\n!frobnicate")
    assert bad.status_code == 400 and "unknown command !frobnicate" in bad.get_data(as_text=True)
    response = post_form(client, "/bugs/tickets/1/triage", commands="!status confirmed\n!label ui")
    assert response.status_code == 303
    session.expire_all()
    ticket = get_ticket(session, bugs.id, 1)
    assert ticket.status is Status.confirmed and ticket.labels == ["ui"]


def test_anonymous_forms_ask_to_sign_in_first(client, bugs):
    for url in ("/bugs/tickets/1/edit", "/bugs/tickets/1/triage"):
        response = client.post(url, data={"title": "x", "commands": "!reopen"})
        assert response.status_code == 403 and "Sign in" in response.get_data(as_text=True)


# -- settings ---------------------------------------------------------------------------------


def test_a_group_maintainer_manages_the_groups_tracker(client, session, people, sec):
    sign_in_user(client, people["mia"])
    html = client.get("/sec/tickets/settings").get_data(as_text=True)
    assert 'name="csrf_token"' in html and "~acme" in html
    assert "~other" not in html  # only groups she owns or maintains are offered
    response = post_form(
        client,
        "/sec/tickets/settings",
        action="access",
        visibility="unlisted",
        default=["browse", "submit"],
        group="acme",
    )
    assert response.status_code == 303
    session.expire_all()
    tracker = session.get(Tracker, sec.id)
    assert tracker.visibility == "unlisted" and tracker.default_rights == "browse,submit"
    assert tracker.owner_group_id == people["acme"].id


def test_settings_refuse_a_group_the_manager_does_not_maintain(client, session, people, sec):
    sign_in_user(client, people["mia"])
    response = post_form(
        client, "/sec/tickets/settings", action="access", visibility="private", group="other"
    )
    assert response.status_code == 403
    session.expire_all()
    assert session.get(Tracker, sec.id).owner_group_id == people["acme"].id


def test_settings_check_csrf_and_values(client, session, people, sec):
    sign_in_user(client, people["ora"])
    forged = client.post("/sec/tickets/settings", data={"action": "access", "csrf_token": "no"})
    assert forged.status_code == 400
    bad = post_form(client, "/sec/tickets/settings", action="access", visibility="secret")
    assert bad.status_code == 400 and "Unknown visibility" in bad.get_data(as_text=True)
    bad = post_form(
        client, "/sec/tickets/settings", action="access", visibility="public", default="x"
    )
    assert bad.status_code == 400 and "Unknown right" in bad.get_data(as_text=True)


def test_access_entries_are_added_and_removed_on_the_settings_page(client, session, people, sec):
    sign_in_user(client, people["ora"])
    scope = f"tracker:{sec.id}"
    assert (
        post_form(
            client, "/sec/tickets/settings", action="grant", who="~eve", rights=["browse"]
        ).status_code
        == 303
    )
    assert (
        post_form(
            client,
            "/sec/tickets/settings",
            action="grant",
            who="Finder@Example.net",
            rights=["submit"],
        ).status_code
        == 303
    )
    assert (
        post_form(client, "/sec/tickets/settings", action="grant", who="~nobody").status_code == 400
    )
    entries = entries_of(session, scope)
    assert {(e.user_id, e.address_key, e.rights) for e in entries} == {
        (people["eve"].id, None, "browse"),
        (None, "finder@example.net", "submit"),
    }
    html = client.get("/sec/tickets/settings").get_data(as_text=True)
    assert "~eve" in html and "finder@example.net" in html

    # ~eve now browses the private tracker.
    sign_in_user(client, people["eve"])
    assert client.get("/sec/tickets/1/").status_code == 200

    sign_in_user(client, people["ora"])
    eve_entry = next(e for e in entries if e.user_id == people["eve"].id)
    assert (
        post_form(
            client, "/sec/tickets/settings", action="revoke", entry=str(eve_entry.id)
        ).status_code
        == 303
    )
    session.expire_all()
    assert [e.address_key for e in entries_of(session, scope)] == ["finder@example.net"]
    sign_in_user(client, people["eve"])
    assert client.get("/sec/tickets/1/").status_code == 404
