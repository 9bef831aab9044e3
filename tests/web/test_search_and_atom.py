"""The search page and the Atom feeds."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from web import archive as web_archive

ATOM = "{http://www.w3.org/2005/Atom}"


def result_subjects(html: str) -> list[str]:
    return re.findall(r'<li><a href="[^"]*"><bdi[^>]*>([^<]*)</bdi></a>', html)


def test_search_page_lists_matches_newest_first_with_links(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "a@x", "fixture one")
    seed.post(dev, "b@x", "something else", body="mentions the fixture\n")
    seed.post(dev, "c@x", "unrelated")
    page = client.get("/dev/?q=fixture").get_data(as_text=True)
    assert result_subjects(page) == ["something else", "fixture one"]
    assert 'href="/dev/b@x/"' in page
    assert 'value="fixture"' in page
    assert result_subjects(client.get("/dev/?q=s:fixture").get_data(as_text=True)) == [
        "fixture one"
    ]


def test_search_is_paginated_by_offset(client, seed, monkeypatch):
    monkeypatch.setattr(web_archive, "RESULTS_PER_PAGE", 2)
    dev = seed.make_list("dev")
    for i in range(5):
        seed.post(dev, f"m{i}@x", f"paged {i}")
    first = client.get("/dev/?q=paged").get_data(as_text=True)
    assert result_subjects(first) == ["paged 4", "paged 3"]
    assert "older results" in first
    last = client.get("/dev/?q=paged&o=4").get_data(as_text=True)
    assert result_subjects(last) == ["paged 0"]
    assert "older results" not in last and "newer results" in last


def test_bad_query_is_a_400_with_the_reason(client, seed):
    seed.make_list("dev")
    response = client.get('/dev/?q="unbalanced')
    assert response.status_code == 400
    assert "unbalanced quotes" in response.get_data(as_text=True)


def test_search_all_lists_names_each_results_list(client, seed):
    dev, users = seed.make_list("dev"), seed.make_list("users")
    seed.post(dev, "d@x", "needle dev")
    seed.post(users, "u@x", "needle users")
    page = client.get("/all/?q=needle").get_data(as_text=True)
    assert result_subjects(page) == ["needle users", "needle dev"]
    assert 'href="/users/u@x/"' in page and 'href="/dev/d@x/"' in page


def test_list_search_does_not_see_other_lists(client, seed):
    dev, users = seed.make_list("dev"), seed.make_list("users")
    seed.post(dev, "d@x", "needle dev")
    seed.post(users, "u@x", "needle users")
    assert result_subjects(client.get("/dev/?q=needle").get_data(as_text=True)) == ["needle dev"]


def test_atom_feed_parses_and_has_the_latest_messages(client, seed, monkeypatch):
    monkeypatch.setattr(web_archive, "ATOM_ENTRIES", 3)
    dev = seed.make_list("dev")
    for i in range(4):
        seed.post(dev, f"m{i}@x", f"entry {i} <&>", body=f"body {i}\x01 text\n")
    response = client.get("/dev/new.atom")
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = ET.fromstring(response.data)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "entry 3 <&>",
        "entry 2 <&>",
        "entry 1 <&>",
    ]
    first = entries[0]
    assert first.find(f"{ATOM}link").get("href") == "http://archive.example.org/dev/m3@x/"
    assert first.findtext(f"{ATOM}author/{ATOM}email") == "ada@example.com"
    assert first.findtext(f"{ATOM}content") == "body 3 text\n"
    assert first.findtext(f"{ATOM}id").startswith("urn:uuid:")
    assert feed.findtext(f"{ATOM}updated") == "2026-03-02T10:04:00Z"


def test_all_atom_covers_every_list(client, seed):
    dev, users = seed.make_list("dev"), seed.make_list("users")
    seed.post(dev, "d@x", "from dev")
    seed.post(users, "u@x", "from users")
    feed = ET.fromstring(client.get("/all/new.atom").data)
    links = [e.find(f"{ATOM}link").get("href") for e in feed.findall(f"{ATOM}entry")]
    assert links == ["http://archive.example.org/users/u@x/", "http://archive.example.org/dev/d@x/"]


def test_empty_list_feed_is_valid(client, seed):
    seed.make_list("dev")
    feed = ET.fromstring(client.get("/dev/new.atom").data)
    assert feed.findall(f"{ATOM}entry") == []
