"""Search: public-inbox's query syntax, the same answers on SQLite FTS5 and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archive.ingest import ingest_messages
from archive.lists import create_list
from archive.search import search_messages
from archive.search_query import SearchQueryError, parse_query
from archive.store import store_message


def test_prefixes_map_to_fields():
    q = parse_query('s:fixture f:ada b:"tmp path" plain m:<x@y> d:20260101..20260131')
    assert [(t.text, t.columns) for t in q.terms] == [
        ("fixture", ("subject",)),
        ("ada", ("from_text",)),
        ("tmp path", ("body",)),
        ("plain", ("subject", "from_text", "to_text", "cc_text", "body")),
    ]
    assert q.message_ids == ["x@y"]
    assert q.date_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert q.date_to == datetime(2026, 2, 1, tzinfo=UTC)


def test_open_date_ranges_and_operators():
    q = parse_query("d:2026-01-05.. foo OR bar -baz")
    assert q.date_from == datetime(2026, 1, 5, tzinfo=UTC) and q.date_to is None
    assert [(t.text, t.joiner, t.negated) for t in q.terms] == [
        ("foo", "AND", False),
        ("bar", "OR", False),
        ("baz", "AND", True),
    ]


@pytest.mark.parametrize("bad", ['s:"unbalanced', "d:2026-13-01", "d:yesterday", "-only"])
def test_bad_queries_say_why(bad):
    with pytest.raises(SearchQueryError):
        parse_query(bad)


def mail(n, subject, sender, body, date="Mon, 02 Mar 2026 10:00:00 +0000", cc=""):
    return (
        f"From: {sender}\nTo: dev@lists.example.org\n{'Cc: ' + cc + chr(10) if cc else ''}"
        f"Subject: {subject}\nDate: {date}\nMessage-ID: <s{n}@example.com>\n\n{body}\n"
    ).encode()


@pytest.fixture
def archive(session):
    dev = create_list(session, "dev", "o@example.org")
    other = create_list(session, "other", "o@example.org")
    mails = [
        (dev, mail(1, "Fix the fixture teardown", "Ada <ada@example.com>", "tmp_path leaks")),
        (
            dev,
            mail(
                2,
                "Re: Fix the fixture teardown",
                "Bob <bob@example.net>",
                "Looks good.\nReviewed-by: Bob",
                "Tue, 03 Mar 2026 10:00:00 +0000",
                cc="Carol <carol@example.org>",
            ),
        ),
        (
            dev,
            mail(
                3,
                "Release notes",
                "Carol <carol@example.org>",
                "nothing about it",
                "Wed, 01 Apr 2026 10:00:00 +0000",
            ),
        ),
        (other, mail(4, "fixture elsewhere", "Ada <ada@example.com>", "other list")),
    ]
    pks = []
    for mlist, raw in mails:
        msgid = raw.split(b"Message-ID: <")[1].split(b">")[0].decode()
        pks.append(store_message(session, raw, msgid, [mlist.id]).message_pk)
    ingest_messages(session, pks)
    session.commit()
    return dev, other, pks


def test_search_finds_by_field_newest_first_within_lists(session, archive):
    dev, other, pks = archive
    assert search_messages(session, [dev.id], "fixture") == [pks[1], pks[0]]
    # Same date: the later message first.
    assert search_messages(session, [dev.id, other.id], "fixture") == [pks[1], pks[3], pks[0]]
    assert search_messages(session, [dev.id], "s:release") == [pks[2]]
    assert search_messages(session, [dev.id], "f:bob") == [pks[1]]
    assert search_messages(session, [dev.id], "c:carol") == [pks[1]]
    assert search_messages(session, [dev.id], "b:leaks") == [pks[0]]
    assert search_messages(session, [dev.id], "m:s3@example.com") == [pks[2]]
    assert search_messages(session, [dev.id], "d:20260401..") == [pks[2]]
    assert search_messages(session, [dev.id], "fixture -reviewed") == [pks[0]]
    assert search_messages(session, [dev.id], "release OR leaks") == [pks[2], pks[0]]
    assert search_messages(session, [dev.id], '"fixture teardown"') == [pks[1], pks[0]]
    assert search_messages(session, [dev.id], "fixture", offset=1, limit=1) == [pks[0]]
    assert search_messages(session, [dev.id], "nothingmatches") == []


def test_stemming_matches_plurals(session, archive):
    dev, _, pks = archive
    assert search_messages(session, [dev.id], "fixtures") == [pks[1], pks[0]]


def test_excluded_terms_alone_with_a_date_exclude(session, archive):
    dev, _, pks = archive
    assert search_messages(session, [dev.id], "-fixture d:20260101..") == [pks[2]]
    assert search_messages(session, [dev.id], "-reviewed fixture") == [pks[0]]
