"""The web as people read it (issue 12): long subjects cut in listings, right-to-left
text isolated, control characters drawn visibly, reply instructions, threads before the
subscribe block, and on patchset pages only this version's replies, closing tickets
linked, each trailer once and the in-body author."""

from __future__ import annotations

import html
import re

from archive.importer import import_messages
from tests.web.test_patches import COVER, PATCH_1, SERIES, mail
from trackers.tickets import Origin, create_tracker, open_ticket

WORDS = "lorem ipsum dolor sit amet " * 740  # 19,980 characters
LONG_SUBJECT = WORDS + "x" * 20


def bdi_texts(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<bdi[^>]*>([^<]*)</bdi>", page)]


def test_a_long_subject_is_cut_in_listings_and_whole_on_its_page(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "long@x", LONG_SUBJECT)
    for listing in ("/dev/", "/all/"):
        page = client.get(listing).get_data(as_text=True)
        assert LONG_SUBJECT not in page
        (cut,) = re.findall(r'<bdi title="(lorem[^"]*)">(lorem[^<]*)</bdi>', page)
        assert len(cut[1]) <= 160 and cut[1].endswith("…")
        assert len(cut[0]) <= 2000 and cut[0].startswith(cut[1][:-1])
    message = client.get("/dev/long@x/").get_data(as_text=True)
    assert f"<h1><bdi>{LONG_SUBJECT}</bdi></h1>" in message


def test_only_long_tokens_break_and_nothing_breaks_every_word():
    css = open("web/static/style.css").read()
    assert "word-break" not in css
    # `anywhere` shrinks a table cell or a grid track to one letter: only the subject
    # column of a listing has it, and headings break words only when they must.
    assert re.search(r"table\.listing th, table\.listing td \{[^}]*break-word", css)
    assert re.search(r"^h1 \{[^}]*overflow-wrap: break-word", css, re.M)


def test_nested_view_margin_does_not_override_the_depth_indentation():
    css = open("web/static/style.css").read()
    rule = re.search(r"^article\.message \{([^}]*)\}", css, re.M).group(1)
    assert "margin:" not in rule and "margin-left" not in rule  # .dN sets margin-left


def test_right_to_left_names_and_subjects_are_isolated(client, seed):
    dev = seed.make_list("dev")
    seed.post(
        dev,
        "rtl@x",
        "=?utf-8?b?16nXnNeV150g16LXldec150=?=",  # שלום עולם
        sender="=?utf-8?b?16nXqNeUINeb15TXnw==?= <sara@example.com>",  # שרה כהן
    )
    for url in ("/dev/", "/all/", "/dev/rtl@x/", "/dev/rtl@x/t/", "/dev/?q=s:שלום"):
        texts = bdi_texts(client.get(url).get_data(as_text=True))
        assert "שלום עולם" in texts, url
        if "?q" not in url:
            assert "שרה כהן" in texts, url


def test_control_characters_from_mail_are_shown_as_visible_escapes(client, seed):
    dev = seed.make_list("dev")
    seed.post(
        dev,
        "ctl@x",
        "red \x1b[31malert",
        body="bell\x07 and an override \u202eevil\n",
        sender="=?utf-8?q?Eve=E2=80=AE_Smith?= <eve@example.com>",
    )
    for url in ("/dev/", "/dev/ctl@x/", "/dev/ctl@x/T/"):
        page = client.get(url).get_data(as_text=True)
        assert "\x1b" not in page and "\x07" not in page and "\u202e" not in page, url
        assert "red ␛[31malert" in page, url
    message = client.get("/dev/ctl@x/").get_data(as_text=True)
    assert "bell␇ and an override \\u202eevil" in message
    assert "Eve\\u202e Smith" in message


def test_message_page_says_how_to_reply_with_git_send_email_and_mailto(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "root@x", "topic")
    seed.post(
        dev,
        "it's@x",
        "Re: topic",
        ("root@x",),
        sender="Béa <bea@example.com>",
        headers="Cc: Carl <c@example.com>, bea@example.com\n",
    )
    page = client.get("/dev/it's@x/").get_data(as_text=True)
    command = (
        "git send-email \\\n"
        "    --in-reply-to='it'\"'\"'s@x' \\\n"
        "    --to=bea@example.com \\\n"
        "    --cc=dev@lists.example.org \\\n"
        "    --cc=c@example.com \\\n"
        "    /path/to/YOUR_REPLY"
    )
    shown = re.search(r'<pre class="cmd">(git send-email[^<]*)</pre>', page).group(1)
    assert html.unescape(shown) == command
    mailto = (
        "mailto:bea@example.com?In-Reply-To=%3Cit%27s%40x%3E"
        "&Cc=dev%40lists.example.org%2Cc%40example.com&Subject=Re%3A%20topic"
    )
    assert mailto in [html.unescape(h) for h in re.findall(r'href="(mailto:[^"]*)"', page)]
    assert "Reply instructions" in page and 'href="#reply"' in page


def test_list_page_shows_threads_before_the_subscribe_block(client, seed):
    dev = seed.make_list("dev")
    seed.post(dev, "a@x", "hello")
    page = client.get("/dev/").get_data(as_text=True)
    assert page.index('<table class="listing threads">') < page.index('id="subscribe"')
    assert page.index('href="#subscribe"') < page.index('<table class="listing threads">')


def patchset_ids(client) -> dict[str, int]:
    listing = client.get("/dev/patches").get_data(as_text=True)
    found = re.findall(
        r'href="/dev/patches/(\d+)/">(?:<bdi>)?([^<]*)(?:</bdi>)?</a>.*?<td>v(\d+)</td>',
        listing,
        re.S,
    )
    return {f"{name} v{version}": int(pid) for pid, name, version in found}


def replies_section(page: str) -> str:
    return page.split("<h2>Replies</h2>", 1)[1]


def test_a_patch_message_links_to_its_patchset(client, seed, session):
    dev = seed.make_list("dev")
    import_messages(session, dev, SERIES)
    pid = patchset_ids(client)["greet loudly v1"]
    for msgid in ("p1@x", "cover@x"):
        page = client.get(f"/dev/{msgid}/").get_data(as_text=True)
        assert (
            f'Part of the patchset <a href="/dev/patches/{pid}/"><bdi>greet loudly</bdi> v1</a>'
            in page
        )
    assert "Part of the patchset" not in client.get("/dev/review@x/").get_data(as_text=True)


def test_a_patchsets_replies_are_its_own_not_another_versions(client, seed, session):
    dev = seed.make_list("dev")
    v2 = [
        mail(
            "v2-cover@x", "[PATCH v2 0/1] greet loudly", COVER.replace("(2)", "(1)"), 20, "cover@x"
        ),
        mail("v2-p1@x", "[PATCH v2 1/1] hello: shout", PATCH_1, 21, "v2-cover@x"),
        mail("v2-review@x", "Re: [PATCH v2 1/1] hello: shout", "Nice.\n", 22, "v2-p1@x"),
    ]
    import_messages(session, dev, [*SERIES, *v2])
    ids = patchset_ids(client)
    first = replies_section(
        client.get(f"/dev/patches/{ids['greet loudly v1']}/").get_data(as_text=True)
    )
    assert 'href="/dev/review@x/"' in first and 'href="/dev/forged@x/"' in first
    for other in ("v2-cover@x", "v2-p1@x", "v2-review@x"):
        assert f'href="/dev/{other}/"' not in first
    second = replies_section(
        client.get(f"/dev/patches/{ids['greet loudly v2']}/").get_data(as_text=True)
    )
    assert 'href="/dev/v2-review@x/"' in second
    for other in ("review@x", "forged@x", "p1@x", "cover@x", "v2-p1@x"):
        assert f'href="/dev/{other}/"' not in second


CLOSING = """Shout louder.

Closes: bugs#1
Signed-off-by: Ada Lovelace <ada@example.com>
---
""" + PATCH_1.split("---\n", 1)[1]


def test_patchset_page_links_closed_tickets_shows_trailers_once_and_the_author(
    client, seed, session
):
    tracker = create_tracker(session, "bugs", "owner@example.com")
    open_ticket(session, tracker, "Too quiet", "louder\n", Origin(address="ada@example.com"))
    session.commit()
    dev = seed.make_list("dev")
    body = "From: Grace Hopper <grace@example.com>\n\n" + CLOSING
    import_messages(
        session,
        dev,
        [
            mail("close@x", "[PATCH] hello: shout louder", body, 0),
            mail(
                "ack@x",
                "Re: [PATCH] hello: shout louder",
                "Signed-off-by: Ada Lovelace <ada@example.com>\nAcked-by: Bob <bob@example.com>\n",
                1,
                "close@x",
                "Bob <bob@example.com>",
            ),
        ],
    )
    pid = patchset_ids(client)["hello: shout louder v1"]
    page = client.get(f"/dev/patches/{pid}/").get_data(as_text=True)
    assert 'Closes: <a href="/bugs/tickets/1/">bugs#1</a>' in page
    assert page.count("Signed-off-by: Ada Lovelace &lt;ada@example.com&gt;") == 1
    assert page.count("Acked-by: Bob &lt;bob@example.com&gt;") == 1
    assert "Author: <bdi>Grace Hopper &lt;grace@example.com&gt;</bdi>" in page
