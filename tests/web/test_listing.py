"""The front page and thread listings: order, reply counts, pagination, headers."""

from __future__ import annotations

import re

from web import archive as web_archive


def thread_subjects(html: str) -> list[str]:
    return re.findall(r'<tr><td[^>]*><a href="[^"]*"><bdi[^>]*>([^<]*)</bdi></a>', html)


def test_front_page_lists_name_description_address_and_last_activity(client, seed):
    dev = seed.make_list("dev", "Development of the <thing>")
    seed.make_list("users")
    seed.post(dev, "a@x", "hello")
    page = client.get("/").get_data(as_text=True)
    assert 'href="/dev/"' in page and 'href="/users/"' in page
    assert "Development of the &lt;thing&gt;" in page
    assert "dev@lists.example.org" in page
    assert "2026-03-02 10:01 UTC" in page


def test_every_response_carries_the_security_headers(client, seed):
    seed.make_list("dev")
    for url in ("/", "/dev/", "/nope/", "/static/style.css"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "style-src 'self'" in csp
        assert "img-src 'self'" in csp and "script-src" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_are_made_for_phones_and_run_no_script(client, seed):
    seed.make_list("dev")
    page = client.get("/dev/").get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script" not in page and " style=" not in page


def test_threads_newest_activity_first_with_reply_counts(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "old@x", "old topic")
    seed.post(dev, "new@x", "new topic")
    seed.post(dev, "r1@x", "Re: old topic", ("old@x",))  # revives the old thread
    seed.post(dev, "r2@x", "Re: old topic", ("old@x", "r1@x"))
    page = client.get("/dev/").get_data(as_text=True)
    assert thread_subjects(page) == ["old topic", "new topic"]
    rows = re.findall(r'<td class="num">(\d+)</td>', page)
    assert rows == ["2", "0"]
    assert 'href="/dev/old@x/"' in page
    assert "Ada Lovelace" in page


def test_thread_listing_pages_by_keyset_without_skipping_ties(client, seed, monkeypatch):
    monkeypatch.setattr(web_archive, "THREADS_PER_PAGE", 2)
    dev = seed.make_list("dev")
    same = seed.clock
    for i in range(5):  # five threads, all last active in the same instant
        seed.post(
            dev,
            f"m{i}@x",
            f"topic {i}",
            date=same,
        )
    seen: list[str] = []
    url = "/dev/"
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += thread_subjects(page)
        older = re.search(r'<a href="([^"]*)">older threads</a>', page)
        url = older.group(1).replace("&amp;", "&") if older else None
    assert sorted(seen) == [f"topic {i}" for i in range(5)]
    assert len(seen) == 5


def test_public_inbox_t_parameter_shows_threads_older_than_it(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "a@x", "first")  # 10:01
    seed.post(dev, "b@x", "second")  # 10:02
    seed.post(dev, "c@x", "third")  # 10:03
    assert thread_subjects(client.get("/dev/?t=20260302100300").get_data(as_text=True)) == [
        "second",
        "first",
    ]
    assert thread_subjects(client.get("/dev/?t=2026-03-02T10:02:00").get_data(as_text=True)) == [
        "first"
    ]
    assert client.get("/dev/?t=yesterday").status_code == 400


def test_all_lists_thread_index_names_the_list(client, seed):
    dev, users = seed.make_list("dev"), seed.make_list("users")
    seed.post(dev, "a@x", "dev topic")
    seed.post(users, "b@x", "users topic")
    page = client.get("/all/").get_data(as_text=True)
    assert thread_subjects(page)[:2] == ["users topic", "dev topic"]
    assert 'href="/users/b@x/"' in page and 'href="/dev/a@x/"' in page


def test_list_without_slash_redirects_permanently(client, seed):
    seed.make_list("dev")
    response = client.get("/dev?q=x")
    assert response.status_code == 301
    assert response.headers["Location"] == "http://archive.example.org/dev/?q=x"


def test_unknown_list_is_a_404_that_says_so(client):
    response = client.get("/nope/")
    assert response.status_code == 404
    assert "no list named" in response.get_data(as_text=True)


def test_thread_whose_first_message_is_missing_links_to_its_earliest(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "r2@x", "Re: lost topic", ("lost@x",), sender="Bo <bo@example.com>")
    seed.post(dev, "r3@x", "Re: lost topic", ("lost@x",))
    page = client.get("/dev/").get_data(as_text=True)
    assert 'href="/dev/r2@x/"><bdi>Re: lost topic</bdi></a>' in page
    assert '<td class="who"><bdi>Bo</bdi></td>' in page


def test_nul_in_an_address_is_a_400_not_a_database_error(client, seed):
    seed.make_list("dev")
    for url in ("/%00/", "/dev/%00@x/", "/dev/?q=a%00b", "/?after=%00"):
        assert client.get(url).status_code == 400, url
