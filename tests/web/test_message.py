"""A message page and its thread views: escaping, links, quotes, problems, URLs."""

from __future__ import annotations

import pytest

from web.mid import mid_escape

AWKWARD_IDS = [
    "a/b@x",
    "/lead@x",
    "pct%41@x",
    "plus+1@x",
    "what?now@x",
    "hash#tag@x",
    "sp ace@x",
    "ünï@x",
]


def test_message_page_escapes_markup_and_renders_no_html_from_mail(client, seed):
    dev = seed.make_list("dev")
    seed.post(
        dev,
        "evil@x",
        "<script>alert(1)</script>",
        body="<script>alert(2)</script>\n<b onclick=x>bold</b>\n",
    )
    seed.post(
        dev,
        "html@x",
        "html only",
        body="<html><body><img src=x onerror=alert(3)></body></html>\n",
        content_type="text/html; charset=utf-8",
    )
    page = client.get("/dev/evil@x/").get_data(as_text=True)
    assert "<script>" not in page and "<b onclick" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    html_page = client.get("/dev/html@x/").get_data(as_text=True)
    assert "<img" not in html_page and "onerror" not in html_page.split("<pre", 1)[1]


def test_only_http_links_are_clickable_and_quotes_are_marked(client, seed):
    dev = seed.make_list("dev")
    seed.post(
        dev,
        "links@x",
        "links",
        body=(
            "> quoted https://quoted.example/\nsee https://example.org/x and\n"
            'javascript:alert(1) and <a href="javascript:alert(2)">x</a>\n'
        ),
    )
    page = client.get("/dev/links@x/").get_data(as_text=True)
    assert '<a href="https://example.org/x"' in page
    assert '<a href="https://quoted.example/"' in page
    assert 'href="javascript' not in page
    assert '<span class="q">&gt; quoted' in page


def test_message_page_shows_headers_thread_outline_and_view_links(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "root@x", "topic", body="first\n")
    seed.post(
        dev,
        "reply@x",
        "Re: topic",
        ("root@x",),
        body="second\n",
        sender="=?utf-8?q?B=C3=A9a?= <bea@example.com>",
        headers="Cc: c@example.com\n",
    )
    page = client.get("/dev/reply@x/").get_data(as_text=True)
    assert "Béa" in page and "&lt;bea@example.com&gt;" in page and "c@example.com" in page
    assert 'href="/dev/root@x/"' in page  # In-Reply-To and the outline
    for view in ("raw", "T/", "t/", "t.mbox.gz"):
        assert f'href="/dev/reply@x/{view}"' in page
    assert 'rel="prev"' in page and 'rel="next"' not in page


def test_parse_problems_are_noted(client, seed):
    dev = seed.make_list("dev")
    raw = (
        b"From: a@example.com\nSubject: broken\nMessage-ID: <bad@x>\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="zz"\n\n--zz\nContent-Type: text/plain\n'
        b"Content-Transfer-Encoding: base64\n\n!!!not base64\n"
    )
    seed.post(dev, "bad@x", raw=raw)
    page = client.get("/dev/bad@x/").get_data(as_text=True)
    assert 'class="note problems"' in page


def test_flat_thread_shows_every_message_in_date_order(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "r@x", "topic", body="body one\n")
    seed.post(dev, "b@x", "Re: topic", ("r@x",), body="body two\n")
    seed.post(dev, "a@x", "Re: topic", ("r@x",), body="body three\n")
    seed.post(dev, "c@x", "Re: topic", ("r@x", "b@x"), body="body four\n")
    page = client.get("/dev/b@x/T/").get_data(as_text=True)
    positions = [page.index(f"body {n}") for n in ("one", "two", "three", "four")]
    assert positions == sorted(positions)


def test_nested_thread_puts_replies_under_their_parent(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "r@x", "topic", body="body one\n")
    seed.post(dev, "b@x", "Re: topic", ("r@x",), body="body two\n")
    seed.post(dev, "a@x", "Re: topic", ("r@x",), body="body three\n")
    seed.post(dev, "c@x", "Re: topic", ("r@x", "b@x"), body="body four\n")
    page = client.get("/dev/r@x/t/").get_data(as_text=True)
    positions = [page.index(f"body {n}") for n in ("one", "two", "four", "three")]
    assert positions == sorted(positions)
    assert 'class="message nested d2" id="m' in page  # c@x, a reply to a reply


def test_thread_with_a_missing_parent_shows_a_placeholder(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "late@x", "Re: topic", ("never@x",), body="reply to the unseen\n")
    page = client.get("/dev/late@x/t/").get_data(as_text=True)
    assert "message not received: <bdi>&lt;never@x&gt;</bdi>" in page


@pytest.mark.parametrize("msgid", AWKWARD_IDS)
def test_awkward_message_ids_round_trip_through_urls(client, seed, msgid):
    dev = seed.make_list("dev")
    raw = seed.post(dev, msgid, "awkward", body="awkward body\n")
    base = f"/dev/{mid_escape(msgid)}/"
    page = client.get(base)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert "awkward body" in page.get_data(as_text=True)
    assert f'href="{base}raw"' in page.get_data(as_text=True)
    assert client.get(base + "raw").data == raw
    assert client.get(base + "T/").status_code == 200
    assert client.get(base + "t/").status_code == 200
    assert client.get(f"/all/{mid_escape(msgid)}/raw").data == raw


def test_b4_style_quote_plus_ids_reach_the_message(client, seed):
    from urllib.parse import quote_plus

    dev = seed.make_list("dev")
    raw = seed.post(dev, "x+y/z@host", "plus")
    assert client.get(f"/dev/{quote_plus('x+y/z@host')}/raw").data == raw
    assert client.get(f"/all/{quote_plus('x+y/z@host', safe='@')}/raw").data == raw


def test_missing_trailing_slash_redirects_to_the_canonical_url(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "a/b+c@x", "slashy")
    response = client.head("/dev/a%2Fb%2Bc%40x")
    assert response.status_code == 301
    assert response.headers["Location"] == "http://archive.example.org/dev/a%2Fb+c@x/"
    response = client.get("/dev/a%2Fb+c@x/T")
    assert response.status_code == 301
    assert response.headers["Location"] == "http://archive.example.org/dev/a%2Fb+c@x/T/"


def test_unknown_message_is_a_404_that_names_lists_that_have_it(client, seed):
    dev, users = seed.make_list("dev"), seed.make_list("users")
    seed.post(users, "elsewhere@x", "elsewhere")
    for url in (
        "/dev/nothing@x/",
        "/dev/nothing@x/raw",
        "/dev/nothing@x/t.mbox.gz",
        "/dev/nothing@x/T/",
        "/dev/nothing@x",
        "/all/nothing@x/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "No message with Message-ID &lt;nothing@x&gt;" in response.get_data(as_text=True)
    page = client.get("/dev/elsewhere@x/").get_data(as_text=True)
    assert 'href="/users/elsewhere@x/"' in page
    assert dev.id != users.id


def test_raw_is_the_exact_bytes_as_plain_text(client, seed):
    dev = seed.make_list("dev")
    raw = (
        b"From: a@example.com\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\nMessage-ID: <raw@x>\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nFrom the caf\xe9\r\n"
        b"<script>alert(1)</script>\r\n"
    )
    seed.post(dev, "raw@x", raw=raw)
    response = client.get("/dev/raw@x/raw")
    assert response.data == raw
    assert response.headers["Content-Type"] == "text/plain; charset=iso-8859-1"
    assert response.headers["Content-Disposition"] == "inline; filename=caf.txt"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_cross_posted_message_is_found_under_all(client, seed):
    dev, users = seed.make_list("dev"), seed.make_list("users")
    seed.post([dev, users], "both@x", "cross-posted", body="in two lists\n")
    assert "in two lists" in client.get("/all/both@x/").get_data(as_text=True)
    assert "in two lists" in client.get("/users/both@x/T/").get_data(as_text=True)


def test_two_messages_sent_with_one_message_id_are_both_on_its_page(client, seed, session):
    from sqlalchemy import select

    from archive.models import Message

    dev = seed.make_list("dev")
    seed.post(dev, "same@x", "the first", body="first text\n")
    seed.post(dev, "same@x", "the second", body="second text\n")
    second = session.scalar(select(Message).where(Message.subject == "the second"))
    assert second.message_id != "same@x"
    page = client.get("/dev/same@x/").get_data(as_text=True)
    assert "first text" in page and "second text" in page
    own = client.get(f"/dev/{mid_escape(second.message_id)}/").get_data(as_text=True)
    assert "second text" in own and "first text" not in own
    assert b"first text" in client.get("/dev/same@x/raw").data
    assert b"second text" in client.get(f"/dev/{mid_escape(second.message_id)}/raw").data
    assert "second text" in client.get("/all/same@x/").get_data(as_text=True)


@pytest.mark.parametrize(
    "header, msgid",
    [
        ("<a<b@x>", "a<b@x"),
        ('<"quoted id"@x>', '"quoted id"@x'),
        ("<sp ace@x>", "sp ace@x"),
        ("<tab\there@x>", "tabhere@x"),
    ],
)
def test_message_ids_public_inbox_accepts_are_kept_and_served(client, seed, header, msgid):
    from archive.parse import extract_message_id
    from tests.web.conftest import make_mail

    dev = seed.make_list("dev")
    raw = make_mail("placeholder@x", "kept", body="kept body\n")
    raw = raw.replace(b"<placeholder@x>", header.encode())
    assert extract_message_id(raw) == msgid
    seed.post(dev, msgid, raw=raw)
    page = client.get(f"/dev/{mid_escape(msgid)}/")
    assert page.status_code == 200 and "kept body" in page.get_data(as_text=True)
    assert client.get(f"/dev/{mid_escape(msgid)}/raw").data == raw


def test_a_message_with_two_message_id_headers_is_reachable_under_both(client, seed):
    dev = seed.make_list("dev")
    raw = seed.post(dev, "one@x", "twice named", headers="Message-ID: <two@x>\n", body="b\n")
    for msgid in ("one@x", "two@x"):
        assert client.get(f"/dev/{msgid}/").status_code == 200
        assert client.get(f"/dev/{msgid}/raw").data == raw
        assert client.get(f"/all/{msgid}/").status_code == 200


def test_a_removed_message_answers_410_with_the_reason(client, seed, session):
    from archive.removal import remove_message

    dev = seed.make_list("dev")
    seed.post(dev, "gone@x", "spam", body="buy now\n")
    remove_message(session, dev, "gone@x", "spam, removed by the list owner")
    session.commit()
    for url in ("/dev/gone@x/", "/dev/gone@x/raw", "/all/gone@x/", "/dev/gone@x/T/"):
        page = client.get(url)
        assert page.status_code == 410, url
        assert "spam, removed by the list owner" in page.get_data(as_text=True)
    assert client.get("/dev/never@x/").status_code == 404


@pytest.mark.parametrize(
    "content_type, served",
    [
        ("text/plain; charset=iso-8859-1", "iso-8859-1"),
        ('text/plain; charset="KOI8-R"', "koi8-r"),
        ("text/plain; charset=windows-1252 (Western)", "windows-1252"),
        # Charsets in which ASCII bytes are not ASCII: markup could hide in them.
        ("text/plain; charset=utf-7", "utf-8"),
        ('text/plain; charset="UTF-7"', "utf-8"),
        ("text/plain; charset=utf-16", "utf-8"),
        ("text/plain; charset=iso-2022-jp", "utf-8"),
        ("text/plain; charset=hz-gb-2312", "utf-8"),
        # Broken headers: the charset is not taken from them.
        ('text/plain; charset="iso-8859-1', "utf-8"),
        ("text/plain; charset=iso-8859-1; charset=koi8-r", "utf-8"),
        ("text/plain; charset=iso-8859-1 junk", "utf-8"),
        ("text/plain; charset=iso-8859-1\x0c", "utf-8"),
        ("text/plain; charset=no-such-charset", "utf-8"),
        ("text/plain", "utf-8"),
    ],
)
def test_raw_serves_only_a_well_formed_ascii_safe_charset(client, seed, content_type, served):
    dev = seed.make_list("dev")
    raw = (
        b"From: a@example.com\r\nSubject: cs\r\nMessage-ID: <cs@x>\r\n"
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n+ADw-script+AD4-alert(1)\r\n"
    )
    seed.post(dev, "cs@x", raw=raw)
    response = client.get("/dev/cs@x/raw")
    assert response.data == raw
    assert response.headers["Content-Type"] == f"text/plain; charset={served}"
