"""Group pages: creating a group, the ~NAME owner page (a user's, a group's), and the
owners' members form; /~USER.keys and /~USER.pgp are not taken for owner pages."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import NotFound

from accounts.groups import create_group, get_group, members_of, role_of, set_member
from accounts.models import GroupRole
from lists.manage import create_list
from tests.accounts.helpers import make_user, post_form, sign_in_user
from trackers.access import set_owner_group, set_visibility
from trackers.tickets import create_tracker


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def people(session):
    made = {name: make_user(session, name) for name in ("ora", "mia", "max", "eve")}
    acme = create_group(session, "acme", made["ora"], "Makers of <things>")
    set_member(session, acme, made["mia"], GroupRole.maintainer)
    set_member(session, acme, made["max"], GroupRole.member)
    session.commit()
    return {**made, "acme": acme}


# -- creating a group -----------------------------------------------------------------------


def test_creating_a_group_needs_an_account_and_the_csrf_token(client, session, people):
    assert client.get("/groups/new").status_code == 403
    assert client.post("/groups/new", data={"name": "x"}).status_code == 403
    sign_in_user(client, people["eve"])
    html = text(client.get("/groups/new"))
    assert 'action="/groups/new"' in html and 'name="csrf_token"' in html
    assert client.post("/groups/new", data={"name": "evil", "csrf_token": "no"}).status_code == 400
    assert get_group(session, "evil") is None


def test_a_new_group_is_owned_by_its_creator(client, session, people):
    sign_in_user(client, people["eve"])
    response = post_form(client, "/groups/new", name="Evecorp", description="Eve's")
    assert response.status_code == 303 and response.location == "/~evecorp"
    group = get_group(session, "evecorp")
    assert role_of(session, group, people["eve"]) is GroupRole.owner


def test_a_taken_group_name_shows_the_form_again_with_the_reason(client, people):
    sign_in_user(client, people["eve"])
    response = post_form(client, "/groups/new", name="ora", description="<mine>")
    assert response.status_code == 400
    html = text(response)
    assert "is taken" in html and "&lt;mine&gt;" in html and "<mine>" not in html


# -- owner pages ----------------------------------------------------------------------------


def test_a_users_page_shows_their_groups(client, people):
    html = text(client.get("/~mia"))
    assert "~mia" in html and 'href="/~acme"' in html and "maintainer" in html
    assert client.get("/~nobody").status_code == 404


def test_a_groups_page_shows_its_description_members_and_roles(client, people):
    html = text(client.get("/~ACME"))
    assert "Makers of &lt;things&gt;" in html
    for name, role in (("ora", "owner"), ("mia", "maintainer"), ("max", "member")):
        assert f'href="/~{name}"' in html and role in html
    assert "manage members" not in html


def test_a_groups_page_lists_what_it_owns_that_the_visitor_may_browse(client, session, people):
    acme = people["acme"]
    dev = create_list(session, "dev", "o@example.org")
    dev.owner_group_id = acme.id
    public = create_tracker(session, "bugs", "o@example.org")
    set_owner_group(public, acme)
    private = create_tracker(session, "sec", "o@example.org")
    set_owner_group(private, acme)
    set_visibility(private, "private")
    session.commit()
    html = text(client.get("/~acme"))
    assert 'href="/dev/"' in html and 'href="/bugs/tickets/"' in html
    assert "/sec/" not in html
    sign_in_user(client, people["max"])  # a member gets member rights on the private tracker
    assert 'href="/sec/tickets/"' in text(client.get("/~acme"))
    sign_in_user(client, people["eve"])
    assert "/sec/" not in text(client.get("/~acme"))


def test_account_key_pages_are_not_taken_for_owner_pages(app, people):
    adapter = app.url_map.bind("archive.example.org")
    assert adapter.match("/~ora")[0] == "groups.owner_page"
    for path in ("/~ora.keys", "/~ora.pgp"):
        try:
            endpoint, _ = adapter.match(path)
        except NotFound:
            continue
        assert not endpoint.startswith("groups."), (path, endpoint)


# -- members --------------------------------------------------------------------------------


def test_only_owners_see_and_use_the_members_form(client, session, people):
    assert client.get("/~acme/members").status_code == 403
    for name in ("mia", "max", "eve"):
        sign_in_user(client, people[name])
        assert client.get("/~acme/members").status_code == 403, name
        assert post_form(client, "/~acme/members", action="add", username="eve").status_code == 403
    sign_in_user(client, people["ora"])
    html = text(client.get("/~acme/members"))
    assert 'name="csrf_token"' in html and 'value="maintainer" selected' in html
    assert 'href="/~acme/members"' in text(client.get("/~acme"))
    assert client.get("/~ora/members").status_code == 404  # a user has no members


def test_owners_add_members_change_roles_and_remove_them(client, session, people):
    sign_in_user(client, people["ora"])
    assert (
        post_form(client, "/~acme/members", action="add", username="eve", role="member").status_code
        == 303
    )
    assert (
        post_form(client, "/~acme/members", action="role", username="mia", role="owner").status_code
        == 303
    )
    assert post_form(client, "/~acme/members", action="remove", username="max").status_code == 303
    session.expire_all()
    acme = get_group(session, "acme")
    assert {(u.username, r) for u, r in members_of(session, acme)} == {
        ("ora", GroupRole.owner),
        ("mia", GroupRole.owner),
        ("eve", GroupRole.member),
    }


def test_the_members_form_refuses_bad_input(client, session, people):
    sign_in_user(client, people["ora"])
    forged = client.post("/~acme/members", data={"action": "add", "username": "eve"})
    assert forged.status_code == 400
    nobody = post_form(client, "/~acme/members", action="add", username="nobody", role="member")
    assert nobody.status_code == 400 and "no user named" in text(nobody)
    boss = post_form(client, "/~acme/members", action="add", username="eve", role="boss")
    assert boss.status_code == 400 and "Unknown role" in text(boss)
    last = post_form(client, "/~acme/members", action="role", username="ora", role="member")
    assert last.status_code == 400 and "last owner" in text(last)
    assert role_of(session, get_group(session, "acme"), people["ora"]) is GroupRole.owner


def test_an_owner_who_leaves_is_sent_to_the_group_page(client, session, people):
    set_member(session, people["acme"], people["mia"], GroupRole.owner)
    session.commit()
    sign_in_user(client, people["ora"])
    response = post_form(client, "/~acme/members", action="remove", username="ora")
    assert response.status_code == 303 and response.location == "/~acme"


def test_owners_change_the_description(client, session, people):
    sign_in_user(client, people["ora"])
    response = post_form(client, "/~acme/members", action="describe", description="New words")
    assert response.status_code == 303
    session.expire_all()
    assert get_group(session, "acme").description == "New words"
