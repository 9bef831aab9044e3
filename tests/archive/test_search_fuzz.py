"""Any string typed into the search box gives results or a refusal that says what is
wrong and where (a `UserError`, so every face answers it: the web with a 400), never
another exception; on the parser alone and through a real SQLite FTS5 query."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.search import search_messages
from archive.search_query import SearchQuery, SearchQueryError, parse_query
from core.errors import UserError
from tests.archive.test_search import archive  # noqa: F401  the fixture

# Pieces that mean something to the parser, so that generated strings reach its corners
# more often than random text would.
PIECES = [
    "NOT",
    "OR",
    "AND",
    "(",
    ")",
    '"',
    "-",
    "s:",
    "f:",
    "b:",
    "m:",
    "d:",
    "dt:",
    "x:",
    "dfn:",
    "patchid:",
    "..",
    "20260301",
    "99991231",
    "00010101",
    "2026-13-01",
    "20260102030405",
    "foo",
    "fixture",
    "<a@b>",
    "\x00",
    "\n",
    "\t",
    "é",
    "\u202e",
    "*",
    "^",
    "{",
    "}",
    ":",
    "NEAR",
    "''",
    "http://x/",
]
QUERIES = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=12).flatmap(
        lambda parts: st.sampled_from([" ", ""]).map(lambda sep: sep.join(parts))
    ),
)


def _refusal_is_precise(error: SearchQueryError) -> None:
    assert isinstance(error, UserError)
    assert "character" in str(error), f"says not where: {error}"


@settings(max_examples=1500, deadline=None)
@given(QUERIES)
def test_any_string_parses_or_is_refused_saying_where(text):
    try:
        parsed = parse_query(text)
    except SearchQueryError as e:
        _refusal_is_precise(e)
    else:
        assert isinstance(parsed, SearchQuery)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the searches only read
)
@given(text=QUERIES)
def test_any_string_searches_the_database_or_is_refused(session, archive, text):  # noqa: F811
    dev, _, _ = archive
    try:
        found = search_messages(session, [dev.id], text)
    except SearchQueryError as e:
        _refusal_is_precise(e)
    else:
        assert isinstance(found, list)
    session.rollback()


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("foo NOT", "the NOT at character 5 needs a term after it"),
        ("NOT", "the NOT at character 1 needs a term after it"),
        ("d:..", "d:.. at character 1: a range needs a date"),
        ("x:foo", "unknown prefix x: at character 1"),
        ("a dfn:foo", "the prefix dfn: at character 3 is not supported"),
        ("((a", "the '(' at character 2 is never closed"),
        ("a )", "the ')' at character 3 closes nothing"),
        ('s:"abc', "the quote at character 3 is never closed"),
        ("(" * 40 + "a" + ")" * 40, "nests deeper than 32 levels"),
        (" ".join(["w"] * 65), "at most 64 terms"),
    ],
)
def test_refusals_name_the_problem_and_its_place(query, said):
    with pytest.raises(SearchQueryError, match=re.escape(said)):
        parse_query(query)


def test_a_range_ending_on_the_last_day_is_open_not_an_overflow(session, archive):  # noqa: F811
    q = parse_query("d:99991231..99991231")
    assert q.date_from == datetime(9999, 12, 31, tzinfo=UTC) and q.date_to is None
    dev, _, _ = archive
    assert search_messages(session, [dev.id], "d:99991231..99991231") == []
    assert search_messages(session, [dev.id], "d:99991231") == []


def test_quoted_unknown_prefix_and_urls_are_text():
    assert parse_query('"x:foo"').text is not None
    assert parse_query("http://example.org/x").text is not None
    assert parse_query("Fixes:").text is not None
