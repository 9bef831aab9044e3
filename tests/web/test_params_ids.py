"""Numbers in paths and parameters are read by one parser (`core.params`): a path id no
row can have is a 404 naming what was asked for, a parameter that is not a number it can
take a 400 naming the parameter; never an OverflowError (SQLite's answer past 2^63-1)
or a value quietly ignored. The CLI reads its ids with the same parser."""

from __future__ import annotations

from datetime import UTC, datetime
from html import unescape

import pytest

from accounts.access import set_entry
from core.params import ParameterError, parse_id, parse_int, parse_keyset, parse_time
from tests.accounts.helpers import make_user, post_form, sign_in_user
from tests.cli_runner import MailyardCli
from trackers.tickets import Origin, create_tracker, open_ticket

HUGE = "99999999999999999999"  # > 2^64
JUST_OVER = str(2**63)


@pytest.fixture
def dev(seed):
    mlist = seed.make_list("dev")
    seed.post(mlist, "one@example.com", "a thread")
    return mlist


@pytest.fixture
def bugs(session):
    tracker = create_tracker(session, "bugs", "owner@example.com")
    open_ticket(session, tracker, "Crash", "It crashes.\n", Origin(address="ada@example.com"))
    session.commit()
    return tracker


@pytest.mark.parametrize("number", [HUGE, JUST_OVER, "0", "abc", "1x", "\u00b2", "-1"])
@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/dev/patches/{}/", "patchset"),
        ("/dev/patches/{}/mbox", "patchset"),
        ("/dev/patches/{}/1.patch", "patchset"),
        ("/dev/patches/1/{}.patch", "patch"),
    ],
)
def test_a_patchset_id_no_row_can_have_is_a_404_naming_it(client, dev, path, what, number):
    response = client.get(path.format(number))
    assert response.status_code == 404
    assert f"There is no {what} " in response.get_data(as_text=True)


@pytest.mark.parametrize("number", [HUGE, str(2**31), "abc", "0"])
def test_a_ticket_number_that_cannot_be_is_a_404_naming_a_ticket(client, bugs, number):
    response = client.get(f"/bugs/tickets/{number}/")
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    assert "There is no ticket" in text and "list" not in text.split("There is no")[1][:40]


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/dev/patches", "before", HUGE),
        ("/dev/patches", "before", "abc"),
        ("/dev/patches", "before", "-5"),
        ("/dev/", "i", HUGE),
        ("/dev/", "i", "abc"),
        ("/dev/", "o", "-5"),
        ("/dev/", "o", HUGE),
        ("/all/", "i", HUGE),
        ("/dev/one@example.com/T/", "o", "\u00b2"),
        ("/bugs/tickets/1/", "after", HUGE),
        ("/bugs/tickets/1/", "after", "abc"),
        ("/bugs/tickets/1/", "after", "-5"),
    ],
)
def test_a_number_parameter_out_of_range_is_a_400_naming_it(client, dev, bugs, path, name, value):
    query = {name: value}
    if name == "i":
        query["t"] = "20260301000000"
    if name == "o" and path == "/dev/":
        query["q"] = "thread"
    response = client.get(path, query_string=query)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert f"?{name}= must be" in unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("path", "value", "said"),
    [
        ("/dev/", "9999-12-31T23:59:59-14:00", "?t= is '9999-12-31T23:59:59-14:00', later than"),
        ("/dev/", "yesterday", "?t= must be a time"),
        ("/bugs/tickets/", "9999-12-31T23:59:59-14:00,1", "later than any time"),
        ("/bugs/tickets/", "abc", "?before= must be TIME,ID"),
        ("/bugs/tickets/", f"2026-01-01T00:00:00,{HUGE}", "?before= must be from 1 to"),
    ],
)
def test_a_cursor_that_cannot_be_a_time_is_a_400(client, dev, bugs, path, value, said):
    name = "t" if path == "/dev/" else "before"
    response = client.get(path, query_string={name: value})
    assert response.status_code == 400
    assert said in unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(
    "path",
    [
        f"/account/addresses/{HUGE}/primary",
        f"/account/addresses/{HUGE}/remove",
        f"/account/ssh-keys/{HUGE}/remove",
        f"/account/pgp-keys/{HUGE}/remove",
        f"/account/tokens/{HUGE}/revoke",
        f"/account/tokens/{JUST_OVER}/revoke",
    ],
)
def test_account_posts_with_ids_no_row_can_have_are_404(client, session, path):
    sign_in_user(client, make_user(session, "ada", "ada@example.org"))
    response = post_form(client, path)
    assert response.status_code == 404
    assert "There is no" in response.get_data(as_text=True)


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_moderation_posts_with_ids_no_row_can_have_are_404(client, session, dev, action):
    mia = make_user(session, "mia", "mia@example.org")
    set_entry(session, f"list:{dev.id}", {"browse", "moderate"}, user_id=mia.id)
    session.commit()
    sign_in_user(client, mia)
    response = post_form(client, f"/dev/moderation/{HUGE}/{action}")
    assert response.status_code == 404
    assert "There is no held message" in response.get_data(as_text=True)


def test_a_good_id_still_reaches_its_page(client, bugs):
    assert client.get("/bugs/tickets/1/").status_code == 200
    assert client.get("/bugs/tickets/1").status_code in (301, 308)


@pytest.mark.parametrize("number", [HUGE, "abc", "0", "\u00b2"])
def test_the_cli_refuses_an_id_no_row_can_have_in_one_line(settings, dev, number):
    result = MailyardCli(settings)("patchset", "status", "dev", number, "applied")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ID must be" in lines[0], result.stderr


@pytest.mark.parametrize(
    "text", ["1_000", " +3", "\u0661", "1e3", "0x10", "1" * 5000, str(2**63), "-0", ""]
)
def test_the_parser_takes_ascii_digits_within_range_only(text):
    with pytest.raises(ParameterError, match="^ID must be"):
        parse_id("ID", text)


def test_the_parser_reads_what_int_reads_for_plain_digits():
    assert parse_int("n", " 0042 ") == 42
    assert parse_id("n", str(2**63 - 1)) == 2**63 - 1
    assert parse_time("t", "20260301102030") == datetime(2026, 3, 1, 10, 20, 30, tzinfo=UTC)
    assert parse_time("t", "2026-03-01T12:00:00 02:00").hour == 10  # '+' decoded as ' '
    assert parse_keyset("b", "2026-03-01T00:00:00+00:00,7")[1] == 7
