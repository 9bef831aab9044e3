"""Search: public-inbox's query syntax, the same answers on SQLite FTS5 and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archive.ingest import ingest_messages
from archive.search import search_messages
from archive.search_query import And, Not, Or, SearchQueryError, Term, parse_query
from archive.store import store_message
from lists.manage import create_list


def test_prefixes_map_to_fields():
    q = parse_query('s:fixture f:ada b:"tmp path" plain m:<x@y> d:20260101..20260131')
    assert q.text == And(
        [
            Term("fixture", ("subject",)),
            Term("ada", ("from_text",)),
            Term("tmp path", ("body",)),
            Term("plain"),
        ]
    )
    assert q.message_ids == ["x@y"]
    assert q.date_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert q.date_to == datetime(2026, 2, 1, tzinfo=UTC)


def test_open_date_ranges_and_operators():
    q = parse_query("d:2026-01-05.. foo OR bar -baz")
    assert q.date_from == datetime(2026, 1, 5, tzinfo=UTC) and q.date_to is None
    assert q.text == Or([Term("foo"), And([Term("bar"), Not(Term("baz"))])])


def test_b4_newer_revision_query_with_parentheses():
    q = parse_query('((s:"fix the thing" AND f:"ada@example.com")) AND d:20260101..')
    assert q.text == And(
        [Term("fix the thing", ("subject",)), Term("ada@example.com", ("from_text",))]
    )
    assert q.date_from == datetime(2026, 1, 1, tzinfo=UTC)


def test_lei_datetime_range():
    q = parse_query("dt:20260102030405..20260103000000 s:x")
    assert q.date_from == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert q.date_to == datetime(2026, 1, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    ['s:"unbalanced', "d:2026-13-01", "d:yesterday", "-only", "(a OR b", "a)", "foo NOT", "NOT"],
)
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
    # Newest received first.
    assert search_messages(session, [dev.id, other.id], "fixture") == [pks[3], pks[1], pks[0]]
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
    assert search_messages(session, [dev.id], "(release OR leaks) -notes") == [pks[0]]
    assert search_messages(session, [dev.id], '((s:"fixture" AND f:"ada")) AND d:20260301..') == [
        pks[0]
    ]


def test_stemming_matches_plurals(session, archive):
    dev, _, pks = archive
    assert search_messages(session, [dev.id], "fixtures") == [pks[1], pks[0]]


def test_excluded_terms_alone_with_a_date_exclude(session, archive):
    dev, _, pks = archive
    assert search_messages(session, [dev.id], "-fixture d:20260101..") == [pks[2]]
    assert search_messages(session, [dev.id], "-reviewed fixture") == [pks[0]]


def test_paging_through_fts_chunks_skips_other_lists(session, archive, monkeypatch):
    import archive.search as search_module

    dev, other, pks = archive
    monkeypatch.setattr(search_module, "FTS_CHUNK", 1)
    assert search_messages(session, [dev.id], "fixture") == [pks[1], pks[0]]
    assert search_messages(session, [dev.id], "fixture", offset=1, limit=5) == [pks[0]]
    assert search_messages(session, [other.id], "fixture") == [pks[3]]


def test_m_prefix_finds_every_message_sent_with_the_id(session, archive):
    dev, _, pks = archive
    reused = mail(1, "Another message, same id", "Eve <eve@example.com>", "a different one")
    other_pk = store_message(session, reused, "s1@example.com", [dev.id]).message_pk
    ingest_messages(session, [other_pk])
    session.commit()
    assert other_pk != pks[0]
    assert search_messages(session, [dev.id], "m:s1@example.com") == [other_pk, pks[0]]
