"""Message-ID <-> URL escaping, as public-inbox's mid_escape and as b4 quotes ids."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from web.mid import (
    FLAT,
    MESSAGE,
    NESTED,
    RAW,
    THREAD_MBOX,
    message_path,
    mid_escape,
    split_message_path,
)

AWKWARD = [
    "plain@example.com",
    "a/b@example.com",
    "/leading-slash@x",
    "double//slash@x",
    "percent%41@x",
    "plus+sign@x",
    "question?mark@x",
    "hash#mark@x",
    "space in@x",
    "ünïcode@x",
    "sub/raw@x",
    # Ids public-inbox keeps whole: '<', quotes, several spaces.
    "a<b@x",
    '"quoted id"@x',
    "it's@x",
    "two  spaces@x",
]


def test_mid_escape_keeps_public_inbox_safe_set_and_escapes_the_rest():
    assert mid_escape("a-._~!$&'()*+,;=:@Z9") == "a-._~!$&'()*+,;=:@Z9"
    assert mid_escape("a/b?c#d%e f") == "a%2Fb%3Fc%23d%25e%20f"
    assert mid_escape("é@x") == "%C3%A9@x"


@pytest.mark.parametrize("msgid", AWKWARD)
@pytest.mark.parametrize("view", [MESSAGE, RAW, THREAD_MBOX, FLAT, NESTED])
def test_escaped_segment_round_trips_for_every_view(msgid, view):
    assert split_message_path(f"{mid_escape(msgid)}/{view}", escaped=True).msgid == msgid
    assert split_message_path(f"{mid_escape(msgid)}/{view}", escaped=True).view == view


# quote_plus turns a space into '+', which a path keeps as '+': those ids are left out.
@pytest.mark.parametrize("msgid", [m for m in AWKWARD if " " not in m])
def test_b4_quote_plus_form_round_trips(msgid):
    assert split_message_path(f"{quote_plus(msgid)}/t.mbox.gz", escaped=True).msgid == msgid


def test_decoded_path_splits_view_off_the_end_like_public_inbox():
    path = split_message_path("a/b@x/T/", escaped=False)
    assert (path.msgid, path.view, path.canonical) == ("a/b@x", FLAT, True)
    assert split_message_path("a+b@x/raw", escaped=False).msgid == "a+b@x"


def test_paths_without_trailing_slash_are_not_canonical():
    assert split_message_path("m@x", escaped=True) == split_message_path("m@x", True)
    path = split_message_path("m@x", escaped=True)
    assert (path.msgid, path.view, path.canonical) == ("m@x", MESSAGE, False)
    path = split_message_path("m@x/T", escaped=True)
    assert (path.msgid, path.view, path.canonical) == ("m@x", FLAT, False)
    path = split_message_path("m@x/t", escaped=True)
    assert (path.msgid, path.view, path.canonical) == ("m@x", NESTED, False)


def test_empty_message_id_is_none():
    assert split_message_path("/", escaped=True) is None
    assert split_message_path("raw", escaped=True).msgid == "raw"


def test_raw_uri_is_preferred_and_script_name_stripped():
    environ = {"RAW_URI": "/mount/dev/a%2Fb@x/raw?x=1", "SCRIPT_NAME": "/mount"}
    path = message_path(environ, "/dev/a/b@x/raw")
    assert (path.msgid, path.view) == ("a/b@x", RAW)


def test_raw_uri_that_disagrees_with_the_path_is_ignored():
    environ = {"RAW_URI": "/elsewhere/zzz@x/"}
    path = message_path(environ, "/dev/a/b@x/raw")
    assert (path.msgid, path.view) == ("a/b@x", RAW)


def test_no_raw_uri_falls_back_to_the_decoded_path():
    path = message_path({}, "/dev/a+b@x/t.mbox.gz")
    assert (path.msgid, path.view) == ("a+b@x", THREAD_MBOX)
