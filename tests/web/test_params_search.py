"""A search the parser refuses is a 400 that says what is wrong and where, on a list's
page, on /all/ and in the POST b4 and lei send (?x=m); never a 500."""

from __future__ import annotations

import pytest

QUERIES = [
    ("foo NOT", "the NOT at character 5 needs a term after it"),
    ("NOT", "the NOT at character 1 needs a term after it"),
    ("d:..", "a range needs a date"),
    ("x:foo", "unknown prefix x: at character 1"),
    ("\u00e9 (" * 3, "is never closed"),
]


@pytest.fixture
def dev(seed):
    mlist = seed.make_list("dev")
    seed.post(mlist, "one@example.com", "a fixture")
    return mlist


@pytest.mark.parametrize(("query", "said"), QUERIES)
@pytest.mark.parametrize("where", ["/dev/", "/all/"])
def test_a_refused_search_page_is_a_400_saying_why(client, dev, where, query, said):
    response = client.get(where, query_string={"q": query})
    assert response.status_code == 400
    assert said in response.get_data(as_text=True)


@pytest.mark.parametrize(("query", "said"), QUERIES)
def test_a_refused_mbox_search_is_a_400_in_plain_text(client, dev, query, said):
    response = client.post("/dev/", query_string={"q": query, "x": "m"})
    assert response.status_code == 400
    assert said in response.get_data(as_text=True)
    response = client.post("/all/", query_string={"q": query, "x": "m", "t": "1"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("query", "mbox_status"),
    [("d:99991231..99991231", 404), ("d:99991231", 404), ("d:00010101..", 200)],
)
def test_dates_at_the_ends_of_time_search(client, dev, query, mbox_status):
    assert client.get("/dev/", query_string={"q": query}).status_code == 200
    response = client.post("/dev/", query_string={"q": query, "x": "m"})
    assert response.status_code == mbox_status  # 404: nothing found, as b4 expects
    response.get_data()  # the whole stream, so its database session ends
    response.close()


def test_not_inside_or_is_refused_where_the_index_cannot_run_it(client, dev, settings):
    """SQLite's FTS5 cannot put a NOT directly inside an OR, so there the search says so;
    PostgreSQL's text search can, and runs it."""
    response = client.get("/dev/", query_string={"q": "a OR NOT b"})
    if settings.database_url.startswith("sqlite"):
        assert response.status_code == 400
        said = "the NOT at character 6 cannot stand directly inside OR"
        assert said in response.get_data(as_text=True)
    else:
        assert response.status_code == 200


def test_a_good_search_still_finds(client, dev):
    response = client.get("/dev/", query_string={"q": "s:fixture"})
    assert response.status_code == 200 and "a fixture" in response.get_data(as_text=True)
