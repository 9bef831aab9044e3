"""The ticket trackers' pages: the trackers, a tracker's tickets (filters, pages, label
colours under the CSP), one ticket's history with escaped text and ref links, and the
comment and new-ticket forms (sign-in, CSRF, notifications)."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.policy import default
from html import unescape
from urllib.parse import unquote

import pytest

from trackers import models
from trackers.commands import parse_reply
from trackers.models import TicketSubscriber
from trackers.tickets import (
    Origin,
    add_comment,
    apply_command,
    create_tracker,
    ensure_label,
    get_ticket,
    open_ticket,
    ticket_events,
)
from web import trackers as web_trackers
from web.auth import login_link

OWNER = "owner@example.com"
ADA = Origin(address="ada@example.com", name="Ada Lovelace", authenticated="dkim")
GRACE = Origin(address="grace@example.com", name="Grace Hopper", authenticated="dkim")
TRIAGER = Origin(address=OWNER, authenticated="dkim")


@pytest.fixture
def bugs(session):
    """The tracker `bugs`: #1 open with labels and an assignee, #2 resolved, #3 by Grace."""
    tracker = create_tracker(session, "bugs", OWNER, "Bugs in the <b>widget</b>")
    ensure_label(session, tracker, "bug", "#b60205")
    ensure_label(session, tracker, "ui", "#fef2c0")
    first = open_ticket(session, tracker, "Crash on start", "It crashes.\n", ADA)
    command(session, tracker, first, "!label bug, ui\n!assign ada@example.com")
    second = open_ticket(session, tracker, "Typo in help", "teh help\n", ADA)
    command(session, tracker, second, "!resolve fixed")
    open_ticket(session, tracker, "Slow search", "search is slow on big lists\n", GRACE)
    session.commit()
    return tracker


def command(session, tracker, ticket, text: str, origin: Origin = TRIAGER) -> None:
    for parsed in parse_reply(text).commands:
        apply_command(session, tracker, ticket, parsed, origin)


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def numbers_on(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/bugs/tickets/(\d+)/">#', html)]


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, settings, address: str) -> str:
    """Open a login link and confirm it, as a person would. Returns a CSRF token."""
    path = login_link(settings, address).removeprefix(settings.base_url)
    client.post(path, data={"csrf_token": csrf_from(client.get(path).get_data(as_text=True))})
    return csrf_from(client.get("/").get_data(as_text=True))


# -- the trackers ---------------------------------------------------------------------------


def test_trackers_page_lists_each_tracker_its_description_and_address(client, bugs, session):
    create_tracker(session, "docs", OWNER)
    session.commit()
    html = page(client, "/trackers/")
    assert 'href="/bugs/tickets/"' in html and 'href="/docs/tickets/"' in html
    assert "mailto:bugs@lists.example.org" in html
    assert "Bugs in the &lt;b&gt;widget&lt;/b&gt;" in html
    assert 'href="/trackers/"' in page(client, "/")


def test_trackers_page_is_paginated_by_name(client, session, monkeypatch):
    monkeypatch.setattr(web_trackers, "TRACKERS_PER_PAGE", 2)
    for name in ("a1", "b2", "c3"):
        create_tracker(session, name, OWNER)
    session.commit()
    first = page(client, "/trackers/")
    assert "/a1/tickets/" in first and "/b2/tickets/" in first and "/c3/" not in first
    rest = page(client, "/trackers/?after=b2")
    assert "/c3/tickets/" in rest and "/a1/" not in rest and "more trackers" not in rest


def test_unknown_tracker_or_ticket_is_404(client, bugs, settings):
    for url in ("/nope/tickets/", "/nope/tickets/1/", "/nope/tickets/new", "/bugs/tickets/99/"):
        assert client.get(url).status_code == 404, url
    token = sign_in(client, settings, "ada@example.com")
    missing = client.post("/bugs/tickets/99/comment", data={"csrf_token": token, "text": "x"})
    assert missing.status_code == 404
    nowhere = client.post("/nope/tickets/new", data={"csrf_token": token, "title": "x"})
    assert nowhere.status_code == 404
    assert client.get("/bugs/tickets/99999999999/").status_code == 404  # beyond the column


# -- the listing ----------------------------------------------------------------------------


def test_listing_shows_open_tickets_by_default_and_others_on_request(client, bugs):
    assert sorted(numbers_on(page(client, "/bugs/tickets/"))) == [1, 3]
    assert sorted(numbers_on(page(client, "/bugs/tickets/?status=all"))) == [1, 2, 3]
    resolved = page(client, "/bugs/tickets/?status=resolved")
    assert numbers_on(resolved) == [2] and "fixed" in resolved
    assert numbers_on(page(client, "/bugs/tickets/?status=in-progress")) == []


def test_listing_filters_by_label_assignee_submitter_and_words(client, bugs):
    html = page(client, "/bugs/tickets/?label=bug")
    assert numbers_on(html) == [1]
    assert 'href="/bugs/tickets/?label=ui">ui</a>' in html  # a chip filters by its label
    assert numbers_on(page(client, "/bugs/tickets/?assignee=ADA@example.com")) == [1]
    assert numbers_on(page(client, "/bugs/tickets/?submitter=grace@example.com")) == [3]
    assert numbers_on(page(client, "/bugs/tickets/?q=slow+search")) == [3]
    assert numbers_on(page(client, "/bugs/tickets/?q=teh&status=all")) == [2]
    assert numbers_on(page(client, "/bugs/tickets/?q=teh")) == []  # resolved, so not open
    html = page(client, "/bugs/tickets/?label=nothing")
    assert "No tickets match" in html
    assert 'name="label" value="nothing"' in html  # the form keeps the filter


def test_listing_offers_mail_and_web_ways_to_open_a_ticket(client, bugs):
    html = page(client, "/bugs/tickets/")
    assert 'href="mailto:bugs@lists.example.org"' in html
    assert 'href="/bugs/tickets/new"' in html


def test_listing_pages_through_60_tickets_without_gaps_or_repeats(client, session):
    tracker = create_tracker(session, "bugs", OWNER)
    for n in range(60):
        open_ticket(session, tracker, f"ticket {n}", "", ADA)
    session.commit()
    first = page(client, "/bugs/tickets/?q=ticket")
    seen = numbers_on(first)
    assert len(seen) == 50 and seen[0] == 60
    older = unescape(re.search(r'href="([^"]+)">older tickets', first).group(1))
    assert "q=ticket" in older  # the filter rides along
    second = page(client, older)
    assert "older tickets" not in second and 'href="/bugs/tickets/?q=ticket">newest' in second
    seen += numbers_on(second)
    assert sorted(seen) == list(range(1, 61))


def test_bad_status_filter_or_page_marker_is_400(client, bugs):
    response = client.get("/bugs/tickets/?status=sleeping")
    assert response.status_code == 400 and "reported" in response.get_data(as_text=True)
    assert client.get("/bugs/tickets/?before=yesterday,1").status_code == 400
    assert client.get("/bugs/tickets/?before=2026-01-01T00:00:00,x").status_code == 400
    assert client.get(f"/bugs/tickets/?before=2026-01-01T00:00:00,{2**64}").status_code == 400


def test_label_colours_come_from_a_stylesheet_since_the_csp_forbids_inline_styles(
    client, bugs, session
):
    ensure_label(session, bugs, "odd", "red")  # not '#rrggbb': no colour at all
    ticket = get_ticket(session, bugs.id, 3)
    command(session, bugs, ticket, "!label odd")
    session.commit()
    response = client.get("/bugs/tickets/")
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert "style=" not in html and "<style" not in html
    assert 'class="tag lc-b60205"' in html and 'class="tag "' in html
    assert '<link rel="stylesheet" href="/bugs/tickets/style.css">' in html
    css = client.get("/bugs/tickets/style.css")
    assert css.content_type.startswith("text/css")
    text = css.get_data(as_text=True)
    assert ".tag.lc-b60205 { background: #b60205; color: #fff;" in text
    assert ".tag.lc-fef2c0 { background: #fef2c0; color: #000;" in text
    assert "red" not in text


# -- one ticket -----------------------------------------------------------------------------


def test_ticket_page_shows_the_ticket_and_every_event_oldest_first(client, bugs):
    html = page(client, "/bugs/tickets/1/")
    assert "Crash on start" in html and "bugs#1" in html
    assert "Ada Lovelace" in html and "&lt;ada@example.com&gt;" in html
    order = [
        "opened this ticket",
        "It crashes.",
        "added the label",
        'assigned <span class="addr">ada@example.com</span>',
    ]
    positions = [html.index(text) for text in order]
    assert positions == sorted(positions)
    resolved = page(client, "/bugs/tickets/2/")
    assert "set the status from reported to <b>resolved</b>" in resolved
    assert "set the resolution from unresolved to <b>fixed</b>" in resolved


def test_title_change_is_one_line_and_escaped(client, bugs, session):
    ticket = get_ticket(session, bugs.id, 3)
    command(session, bugs, ticket, "!title <i>Search</i> is slow")
    session.commit()
    html = page(client, "/bugs/tickets/3/")
    assert (
        "changed the title from “<bdi>Slow search</bdi>” to "
        "“<bdi>&lt;i&gt;Search&lt;/i&gt; is slow</bdi>”" in html
    )


def test_comment_text_is_escaped_monospace(client, bugs, session):
    ticket = get_ticket(session, bugs.id, 1)
    add_comment(session, ticket, "<script>alert(1)</script>\n> quoted\nsee https://x.org/a\n", ADA)
    session.commit()
    html = page(client, "/bugs/tickets/1/")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<span class="q">&gt; quoted\n</span>' in html
    assert '<a href="https://x.org/a" rel="nofollow noopener noreferrer">' in html
    assert '<pre class="body">' in html


def test_refs_are_links_only_to_tickets_that_exist(client, bugs, session):
    docs = create_tracker(session, "docs", OWNER)
    open_ticket(session, docs, "Write docs", "", ADA)
    ticket = get_ticket(session, bugs.id, 1)
    text = (
        "Like #2 and docs#1, not #99, nosuch#1 or docs#7.\n"
        "Also http://archive.example.org/bugs/tickets/3/ and C#12.\n"
    )
    add_comment(session, ticket, text, ADA)
    session.commit()
    html = page(client, "/bugs/tickets/1/")
    assert '<a href="/bugs/tickets/2/">#2</a>' in html
    assert '<a href="/docs/tickets/1/">docs#1</a>' in html
    assert '<a href="/bugs/tickets/3/">http://archive.example.org/bugs/tickets/3/</a>' in html
    for plain in ("not #99,", "nosuch#1 or docs#7.", "C#12"):
        assert plain in html
    assert "/bugs/tickets/99/" not in html and "/docs/tickets/7/" not in html


def test_reply_by_mail_link_addresses_the_ticket(client, bugs):
    html = page(client, "/bugs/tickets/1/")
    href = unescape(re.search(r'href="(mailto:[^"]+)">Reply by mail', html).group(1))
    address, _, query = href.removeprefix("mailto:").partition("?")
    assert address == "bugs+1@lists.example.org"
    assert unquote(query) == "subject=Re: [bugs#1] Crash on start"


def test_imported_events_show_their_authenticity(client, bugs, session):
    ticket = get_ticket(session, bugs.id, 3)
    for mark in ("authentic", "tampered"):
        event = add_comment(session, ticket, f"{mark} comment", ADA)
        event.data = {"authenticity": mark}
    session.commit()
    html = page(client, "/bugs/tickets/3/")
    assert '<span class="tag" title="signature of the imported event">authentic</span>' in html
    assert '<span class="warn" title="signature of the imported event">tampered</span>' in html
    assert html.count("signature of the imported event") == 2


def test_long_histories_are_paginated(client, bugs, session, monkeypatch):
    monkeypatch.setattr(web_trackers, "EVENTS_PER_PAGE", 3)
    ticket = get_ticket(session, bugs.id, 3)
    for n in range(4):
        add_comment(session, ticket, f"comment {n}", ADA)
    session.commit()
    first = page(client, "/bugs/tickets/3/")
    assert "comment 1" in first and "comment 2" not in first
    later = unescape(re.search(r'href="([^"]+)">later events', first).group(1))
    rest = page(client, later)
    assert "comment 2" in rest and "comment 3" in rest and "comment 1" not in rest


# -- commenting -----------------------------------------------------------------------------


def test_comment_form_is_for_signed_in_visitors_only(client, bugs, settings):
    assert "<textarea" not in page(client, "/bugs/tickets/1/")
    sign_in(client, settings, "grace@example.com")
    html = page(client, "/bugs/tickets/1/")
    assert 'action="/bugs/tickets/1/comment"' in html and 'name="csrf_token"' in html


def test_anonymous_comment_is_403(client, bugs):
    response = client.post("/bugs/tickets/1/comment", data={"text": "hi"})
    assert response.status_code == 403 and "Sign in" in response.get_data(as_text=True)


def test_comment_needs_this_sessions_csrf_token_and_text(client, bugs, settings, session):
    token = sign_in(client, settings, "grace@example.com")
    url = "/bugs/tickets/1/comment"
    assert client.post(url, data={"text": "hi", "csrf_token": "forged"}).status_code == 400
    assert client.post(url, data={"text": "hi"}).status_code == 400
    assert client.post(url, data={"text": "  \r\n ", "csrf_token": token}).status_code == 400
    assert client.post(url, data={"text": "a\x00b", "csrf_token": token}).status_code == 400
    ticket = get_ticket(session, bugs.id, 1)
    assert [e.kind.value for e in ticket_events(session, ticket)].count("comment") == 0


def test_signed_in_comment_is_posted_mailed_to_followers_and_shown(
    client, bugs, settings, relay_settings, sink
):
    token = sign_in(client, settings, "Grace@Example.com")
    response = client.post(
        "/bugs/tickets/1/comment", data={"text": "Seen it too.\r\nOn 2.1.", "csrf_token": token}
    )
    assert response.status_code == 303
    assert re.fullmatch(r"/bugs/tickets/1/#e\d+", response.location)
    [mail] = sink.received  # to the submitter and assignee (Ada), not to Grace who wrote it
    assert mail.rcpt_tos == ["ada@example.com"]
    message = message_from_bytes(mail.content, policy=default)
    assert message["Subject"] == "Re: [bugs#1] Crash on start"
    assert "Seen it too.\r\nOn 2.1." in message.get_content()  # CRLF, as on the wire
    html = page(client, "/bugs/tickets/1/")
    assert "Seen it too.\nOn 2.1." in html and "(via web)" in html


# -- opening a ticket -----------------------------------------------------------------------


def test_new_ticket_form_prefills_from_the_url_and_escapes_it(client, bugs):
    html = page(
        client,
        "/bugs/tickets/new?title=Crash+%22here%22+%3Cb%3E"
        "&description=Traceback%3A%0A%20%20%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    )
    assert 'value="Crash &#34;here&#34; &lt;b&gt;"' in html
    assert ">Traceback:\n  &lt;script&gt;alert(1)&lt;/script&gt;</textarea>" in html
    assert "<script>" not in html and "<b>" not in html


def test_anonymous_new_ticket_form_asks_to_sign_in_or_mail(client, bugs):
    html = page(client, "/bugs/tickets/new?title=Boom&description=stack")
    assert "Sign in to open a ticket here" in html
    assert '<button type="submit" disabled>' in html
    href = unescape(re.search(r'href="(mailto:[^"]+)">send it by mail', html).group(1))
    assert href == "mailto:bugs@lists.example.org?subject=Boom&body=stack"


def test_opening_a_ticket_needs_sign_in_csrf_and_a_title(client, bugs, settings, session):
    url = "/bugs/tickets/new"
    assert client.post(url, data={"title": "x"}).status_code == 403
    token = sign_in(client, settings, "grace@example.com")
    assert client.post(url, data={"title": "x", "csrf_token": "forged"}).status_code == 400
    assert client.post(url, data={"title": "  ", "csrf_token": token}).status_code == 400
    session.expire_all()
    assert session.get(models.Tracker, bugs.id).last_number == 3


def test_signed_in_visitor_opens_a_ticket_mailed_to_followers_and_is_sent_to_it(
    client, bugs, settings, session, relay_settings, sink
):
    session.add(TicketSubscriber(tracker_id=bugs.id, ticket_id=None, address=OWNER))
    session.commit()
    token = sign_in(client, settings, "grace@example.com")
    response = client.post(
        "/bugs/tickets/new",
        data={"title": "Dark mode", "description": "Please.\r\n", "csrf_token": token},
    )
    assert response.status_code == 303 and response.location == "/bugs/tickets/4/"
    ticket = get_ticket(session, bugs.id, 4)
    assert ticket.submitter == "grace@example.com" and ticket.description == "Please.\n"
    [mail] = sink.received  # to the tracker's follower; Grace opened it herself
    assert mail.rcpt_tos == [OWNER]
    assert message_from_bytes(mail.content, policy=default)["Subject"] == "[bugs#4] Dark mode"
    html = page(client, "/bugs/tickets/4/")
    assert "Dark mode" in html and "Please.\n" in html and "(via web)" in html


def test_the_owner_downloads_the_signed_export(client, bugs, session, settings):
    import gzip
    import json

    assert client.get("/bugs/tickets/export.json.gz").status_code == 403
    sign_in(client, settings, "grace@example.com")
    assert client.get("/bugs/tickets/export.json.gz").status_code == 403
    sign_in(client, settings, OWNER)
    response = client.get("/bugs/tickets/export.json.gz")
    assert response.status_code == 200
    doc = json.loads(gzip.decompress(response.data))
    assert doc["tracker"]["name"] == "bugs" and len(doc["tickets"]) == 3
