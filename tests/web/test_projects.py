"""Project pages: creating one for yourself or a group you act for, the page with its
README and links (those the visitor may not browse left out), its recent activity across
lists and trackers merged newest first, and the settings page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from accounts.access import set_entry
from accounts.groups import create_group, set_member
from accounts.models import GroupRole
from accounts.projects import add_link, create_project, get_project, links_of
from lists.access import list_scope
from tests.accounts.helpers import make_user, post_form, sign_in_user
from tests.web.conftest import START
from trackers.access import set_owner_group, set_visibility
from trackers.models import TicketEvent
from trackers.tickets import Origin, add_comment, create_tracker, open_ticket


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture
def people(session):
    made = {name: make_user(session, name) for name in ("ora", "mia", "max", "eve")}
    acme = create_group(session, "acme", made["ora"])
    set_member(session, acme, made["mia"], GroupRole.maintainer)
    set_member(session, acme, made["max"], GroupRole.member)
    session.commit()
    return {**made, "acme": acme}


# -- creating -------------------------------------------------------------------------------


def test_the_new_project_form_offers_yourself_and_the_groups_you_act_for(client, people):
    assert client.get("/projects/new").status_code == 403
    sign_in_user(client, people["mia"])
    html = text(client.get("/projects/new"))
    assert 'value="mia" selected' in html and 'value="acme"' in html
    sign_in_user(client, people["max"])  # a member does not act for the group
    assert 'value="acme"' not in text(client.get("/projects/new"))


def test_a_maintainer_creates_a_project_for_the_group(client, session, people):
    sign_in_user(client, people["mia"])
    response = post_form(
        client, "/projects/new", owner="acme", name="Widget", description="The widget"
    )
    assert response.status_code == 303 and response.location == "/~acme/widget"
    project = get_project(session, "acme", "widget")
    assert project.owner_group_id == people["acme"].id and project.description == "The widget"


def test_creating_a_project_is_refused_for_others_and_bad_names(client, session, people):
    sign_in_user(client, people["max"])
    assert post_form(client, "/projects/new", owner="acme", name="widget").status_code == 403
    assert post_form(client, "/projects/new", owner="ora", name="widget").status_code == 403
    bad = post_form(client, "/projects/new", owner="max", name="-bad-")
    assert bad.status_code == 400 and "Invalid project name" in bad.get_data(as_text=True)
    forged = client.post("/projects/new", data={"owner": "max", "name": "x", "csrf_token": "no"})
    assert forged.status_code == 400
    assert get_project(session, "acme", "widget") is None


# -- the page ---------------------------------------------------------------------------------


@pytest.fixture
def widget(session, seed, people):
    """~acme/widget linking list `dev` (public), list `core` (only ~acme's members), tracker
    `bugs` (public), tracker `sec` (private, ~acme's) and a repository."""
    acme = people["acme"]
    dev, core = seed.make_list("dev"), seed.make_list("core")
    core.visibility, core.owner_group_id = "private", acme.id
    bugs = create_tracker(session, "bugs", "o@example.org")
    sec = create_tracker(session, "sec", "o@example.org")
    set_visibility(sec, "private")
    set_owner_group(sec, acme)
    project = create_project(session, acme, "widget", "The widget", readme="Build:\n  make <all>\n")
    for scope in (f"list:{dev.id}", f"list:{core.id}", f"tracker:{bugs.id}", f"tracker:{sec.id}"):
        add_link(session, project, scope)
    add_link(session, project, "repo:https://git.example.org/acme/widget")
    session.commit()
    return {"project": project, "dev": dev, "core": core, "bugs": bugs, "sec": sec}


def test_the_readme_is_escaped_monospace_text(client, widget):
    html = text(client.get("/~acme/widget"))
    assert '<pre class="body readme">Build:\n  make &lt;all&gt;\n</pre>' in html
    assert "The widget" in html


def test_links_the_visitor_may_not_browse_are_left_out(client, people, widget):
    html = text(client.get("/~acme/widget"))
    assert 'href="/dev/"' in html and 'href="/bugs/tickets/"' in html
    assert 'href="https://git.example.org/acme/widget"' in html
    assert "core" not in html and "sec" not in html
    sign_in_user(client, people["max"])
    html = text(client.get("/~acme/widget"))
    assert 'href="/core/"' in html and 'href="/sec/tickets/"' in html


def test_activity_merges_list_messages_and_ticket_events_newest_first(
    client, session, seed, people, widget
):
    seed.post(widget["dev"], "m1@example.com", "First dev mail")  # START + 1 min
    seed.post(widget["core"], "c1@example.com", "Core secret")  # + 2 min
    bugs, sec = widget["bugs"], widget["sec"]
    ticket = open_ticket(session, bugs, "Crash", "x\n", Origin("a@example.com", "Ann"))
    add_comment(session, ticket, "more\n", Origin("b@example.com", "Bob"))
    hidden = open_ticket(session, sec, "Overflow", "x\n", Origin("ora@example.com"))
    session.flush()
    when = {  # the report, Bob's comment, the private report
        ticket.id: [START + timedelta(minutes=3), START + timedelta(minutes=5)],
        hidden.id: [START + timedelta(minutes=4)],
    }
    for ticket_id, times in when.items():
        events = session.query(TicketEvent).filter_by(ticket_id=ticket_id).order_by(TicketEvent.id)
        for event, at in zip(events, times, strict=True):
            session.execute(
                update(TicketEvent).where(TicketEvent.id == event.id).values(created_at=at)
            )
    session.commit()
    seed.clock = START + timedelta(minutes=5, seconds=30)
    seed.post(widget["dev"], "m2@example.com", "Second dev mail")  # + 6.5 min

    html = text(client.get("/~acme/widget"))
    order = [html.index(s) for s in ("Second dev mail", "Bob", "Ann", "First dev mail")]
    assert order == sorted(order)
    assert "Core secret" not in html and "Overflow" not in html
    assert 'href="/dev/m2@example.com/"' in html and 'href="/bugs/tickets/1/#e' in html

    sign_in_user(client, people["max"])
    html = text(client.get("/~acme/widget"))
    order = [
        html.index(s)
        for s in ("Second dev mail", "Bob", "Overflow", "Ann", "Core secret", "First dev mail")
    ]
    assert order == sorted(order)


def test_a_missing_project_is_404(client, people):
    assert client.get("/~acme/nope").status_code == 404
    assert client.get("/~nobody/widget").status_code == 404


def test_the_owner_page_lists_its_projects(client, widget):
    html = text(client.get("/~acme"))
    assert 'href="/~acme/widget"' in html and "The widget" in html


# -- settings -----------------------------------------------------------------------------------


def test_only_who_manages_the_owner_edits_a_project(client, people, widget):
    assert client.get("/~acme/widget/settings").status_code == 403
    for name in ("max", "eve"):
        sign_in_user(client, people[name])
        assert client.get("/~acme/widget/settings").status_code == 403
        response = post_form(client, "/~acme/widget/settings", action="details", readme="x")
        assert response.status_code == 403
    sign_in_user(client, people["mia"])
    html = text(client.get("/~acme/widget/settings"))
    assert 'name="csrf_token"' in html and "list core" in html  # she may see core
    assert 'href="/~acme/widget/settings"' in text(client.get("/~acme/widget"))


def test_the_description_and_readme_are_edited(client, session, people, widget):
    sign_in_user(client, people["ora"])
    response = post_form(
        client,
        "/~acme/widget/settings",
        action="details",
        description="Widgets, better",
        readme="New\r\nREADME",
    )
    assert response.status_code == 303
    session.expire_all()
    project = get_project(session, "acme", "widget")
    assert project.description == "Widgets, better" and project.readme == "New\nREADME"


def test_links_are_only_to_lists_and_trackers_the_editor_manages(client, session, people, widget):
    mine = create_tracker(session, "mine", "mia@example.com")
    create_tracker(session, "theirs", "someone@example.org")
    session.commit()
    sign_in_user(client, people["mia"])
    url = "/~acme/widget/settings"
    assert post_form(client, url, action="link", link="tracker:mine").status_code == 303
    refused = post_form(client, url, action="link", link="tracker:theirs")
    assert refused.status_code == 400 and "You manage no tracker named &#39;theirs&#39;" in (
        refused.get_data(as_text=True)
    )
    assert post_form(client, url, action="link", link="list:nope").status_code == 400
    assert post_form(client, url, action="link", link="repo:ftp://x").status_code == 400
    scopes = [link.scope for link in links_of(session, widget["project"])]
    assert f"tracker:{mine.id}" in scopes
    assert post_form(client, url, action="unlink", scope=f"tracker:{mine.id}").status_code == 303
    assert post_form(client, url, action="unlink", scope=f"tracker:{mine.id}").status_code == 400


def test_a_list_entry_shutting_someone_out_hides_the_link(client, session, people, widget):
    set_entry(session, list_scope(widget["dev"].id), [], user_id=people["eve"].id)
    session.commit()
    sign_in_user(client, people["eve"])
    html = text(client.get("/~acme/widget"))
    assert 'href="/dev/"' not in html and 'href="/bugs/tickets/"' in html
