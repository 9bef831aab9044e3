"""Error texts name the thing that is wrong: a Message-ID that is there but unusable is
not "missing", a page past the last list is not "no lists yet", a ticket that cannot be
is not a missing list, and a list's settings answer as a tracker's do (403 to someone
who sees it but may not manage it, the missing list's 404 to someone who may not see
it)."""

from __future__ import annotations

from html import unescape

import pytest

from accounts.access import set_entry
from archive.parse import parse_message
from lists.manage import change_list_settings
from mail.policy import check_required_headers
from tests.accounts.helpers import make_user, sign_in_user
from trackers.tickets import create_tracker


def _decision(message_id_header: str):
    raw = f"From: a@example.com\nSubject: s\n{message_id_header}\n\nbody\n".encode()
    return check_required_headers(parse_message(raw))


# Ids are read as public-inbox reads them (spaces and bare ids are kept), so these are
# the ones left that cannot be used.
@pytest.mark.parametrize("value", ["<>", "< >", "<a\x00b>"])
def test_a_malformed_message_id_is_called_unusable_not_missing(value):
    detail = _decision(f"Message-ID: {value}").detail
    assert "missing" not in detail and "unusable Message-ID" in detail
    assert repr(value) in detail or "\\x00" in detail


def test_an_unusable_message_id_is_quoted_back_in_ascii():
    detail = _decision("Message-ID: <caf\u00e9 bar\x00>").detail
    assert detail.isascii() and "unusable Message-ID" in detail


@pytest.mark.parametrize("header", ["", "Message-ID: "])
def test_an_absent_or_empty_message_id_is_missing(header):
    assert _decision(header).detail == "missing or empty Message-ID header"


def test_a_nul_is_refused_naming_where_it_is(client, seed):
    seed.make_list("dev")
    response = client.get("/dev/", query_string={"t": "1", "q": "a\x00b"})
    assert response.status_code == 400
    assert "?q= holds a NUL" in unescape(response.get_data(as_text=True))
    response = client.get("/dev%00/")
    assert response.status_code == 400 and "page address holds a NUL" in response.text


def test_a_page_past_the_last_list_says_so(client, seed):
    seed.make_list("dev")
    text = unescape(client.get("/?after=zzzz").get_data(as_text=True))
    assert "No lists yet" not in text and "No lists after <bdi>zzzz</bdi>" in text


def test_no_lists_yet_when_there_are_none(client):
    assert "No lists yet" in client.get("/").get_data(as_text=True)


def test_a_ticket_that_cannot_be_names_a_ticket_not_a_list(client, session):
    create_tracker(session, "bugs", "owner@example.com")
    session.commit()
    for path in ("/bugs/tickets/abc/", "/bugs/tickets/99999999999999999999/"):
        response = client.get(path)
        text = unescape(response.get_data(as_text=True))
        assert response.status_code == 404
        assert "There is no ticket" in text and "no list" not in text


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_list_and_tracker_settings_answer_alike(client, session, seed, visibility):
    """Positive control included: the owner gets both pages."""
    mlist = seed.make_list("dev")
    tracker = create_tracker(session, "bugs", "owner@example.com")
    reader = make_user(session, "rita", "rita@example.org")
    stranger = make_user(session, "stan", "stan@example.org")
    change_list_settings(session, mlist, visibility=visibility)
    tracker.visibility = visibility
    set_entry(session, f"list:{mlist.id}", {"browse"}, user_id=reader.id)
    set_entry(session, f"tracker:{tracker.id}", {"browse"}, user_id=reader.id)
    session.commit()
    sign_in_user(client, reader)
    assert client.get("/dev/settings").status_code == 403
    assert client.get("/bugs/tickets/settings").status_code == 403
    sign_in_user(client, stranger)
    expected = 403 if visibility == "public" else 404
    assert client.get("/dev/settings").status_code == expected
    assert client.get("/bugs/tickets/settings").status_code == expected
    sign_in_user(client, make_user(session, "owner", "owner@example.com"))
    assert client.get("/dev/settings").status_code == 200
    assert client.get("/bugs/tickets/settings").status_code == 200
