"""Ticket refs in text and commit messages: what counts as a ref, what is only a `#` in
passing, and how text is split for linking."""

from __future__ import annotations

import pytest

from trackers.mentions import TicketRef, closing_refs, find_ticket_refs, render_with_links

BASE = "https://lists.example.org"


def refs(text: str, base_url: str = "") -> list[tuple[str | None, int, str]]:
    return [
        (r.tracker, r.number, text[r.start : r.end])
        for r in find_ticket_refs(text, base_url=base_url)
    ]


# --- find_ticket_refs ----------------------------------------------------------------------


def test_bare_ref_at_start_middle_and_end():
    assert refs("#1 is like #2, see #3") == [(None, 1, "#1"), (None, 2, "#2"), (None, 3, "#3")]


def test_refs_next_to_punctuation():
    text = '(#4) [#5]: #6. "#7" #8!\n#9'
    assert [n for _, n, _ in refs(text)] == [4, 5, 6, 7, 8, 9]


def test_ref_spans_are_offsets_in_the_text():
    assert find_ticket_refs("see #12 now") == [TicketRef(None, 12, 4, 7)]


def test_named_refs():
    assert refs("mailyard#12 and lib.core-x_2#3, also ~web#4") == [
        ("mailyard", 12, "mailyard#12"),
        ("lib.core-x_2", 3, "lib.core-x_2#3"),
        ("web", 4, "web#4"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "written in C#12",
        "F#3 and C#",
        "abc#def",
        "issue#12abc",
        "#12abc",
        "Mailyard#12",
        "fooBar#1",
        "owner/repo#4",
        "html &#12; entity",
        "ann@host#12",
        "##12",
        "version #1.5",
        "#0",
        "#12345678901",
        "café#12",
    ],
)
def test_hashes_that_are_not_refs(text: str):
    assert refs(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "http://x/#12",
        "see https://example.com/page#12 there",
        "https://example.com/?q=1#12",
        "<https://forge.example/issues/#3>",
        "git://example.org/repo#5",
    ],
)
def test_url_fragments_are_not_refs(text: str):
    assert refs(text, BASE) == []


def test_ticket_urls_count_only_with_a_base_url():
    text = f"See {BASE}/mailyard/tickets/12 and {BASE}/web/tickets/3/."
    assert refs(text) == []
    assert refs(text, BASE) == [
        ("mailyard", 12, f"{BASE}/mailyard/tickets/12"),
        ("web", 3, f"{BASE}/web/tickets/3/"),
    ]


def test_base_url_with_a_trailing_slash_works_the_same():
    assert refs(f"{BASE}/m/tickets/1", BASE + "/") == [("m", 1, f"{BASE}/m/tickets/1")]


def test_urls_below_a_ticket_or_on_other_hosts_are_not_refs():
    text = (
        f"{BASE}/m/tickets/1/edit {BASE}/m/tickets/2#c3 "
        "https://other.example/m/tickets/4 "
        f"{BASE}/m/patches/5"
    )
    assert refs(text, BASE) == []


def test_ticket_url_in_parentheses_ends_before_the_parenthesis():
    text = f"(fixed, see {BASE}/m/tickets/8)"
    assert refs(text, BASE) == [("m", 8, f"{BASE}/m/tickets/8")]


def test_refs_and_urls_come_back_in_text_order():
    text = f"{BASE}/a/tickets/2 then #1"
    assert [n for _, n, _ in refs(text, BASE)] == [2, 1]


def test_unicode_around_refs_keeps_character_offsets():
    text = "日本語 #5 — ça"
    assert refs(text) == [(None, 5, "#5")]


# --- closing_refs --------------------------------------------------------------------------

SOB = "Signed-off-by: Ann Author <ann@example.com>"


def test_closing_trailers_name_tickets():
    message = (
        "parse: handle empty bodies\n\n"
        "Empty bodies crashed the parser.\n\n"
        "Closes: mailyard#12\n"
        "Fixes: #3\n"
        f"Resolves: {BASE}/web/tickets/4\n"
        f"{SOB}\n"
    )
    found = [(kind, ref.tracker, ref.number) for kind, ref in closing_refs(message, base_url=BASE)]
    assert found == [
        ("closes", "mailyard", 12),
        ("fixes", None, 3),
        ("resolves", "web", 4),
    ]


def test_trailer_names_are_case_insensitive_and_values_may_list_refs():
    message = f"subject\n\nbody\n\ncloses: #1, m#2 #3\n{SOB}\n"
    assert [(k, r.number) for k, r in closing_refs(message)] == [
        ("closes", 1),
        ("closes", 2),
        ("closes", 3),
    ]


def test_git_style_fixes_trailer_is_not_a_ticket_ref():
    message = (
        "subject\n\nbody\n\n"
        'Fixes: 0123456789ab ("parse: fix #12 crash")\n'
        "Fixes: 0123456789ab\n"
        f"{SOB}\n"
    )
    assert closing_refs(message) == []


def test_refs_outside_the_trailer_block_do_not_close():
    message = f"subject closes #1\n\nCloses: #2 in prose.\n\nThis fixes #3.\n\n{SOB}\n"
    assert closing_refs(message) == []


def test_other_trailers_and_foreign_urls_do_not_close():
    message = (
        "subject\n\nbody\n\n"
        "Link: m#1\n"
        "Closes: https://github.com/o/r/issues/2\n"
        f"Closes: {BASE}/m/tickets/3\n"
        f"{SOB}\n"
    )
    assert closing_refs(message) == []  # no base_url: the ticket URL is just a URL


def test_closing_refs_reads_crlf_and_never_raises():
    assert [r.number for _, r in closing_refs(f"s\r\n\r\nb\r\n\r\nCloses: #7\r\n{SOB}\r\n")] == [7]
    assert closing_refs("") == []


# --- render_with_links ---------------------------------------------------------------------


def test_render_splits_text_into_plain_and_linked_pieces():
    pieces = render_with_links("see #1 and m#2.", lambda r: f"/t/{r.tracker}/{r.number}")
    assert pieces == [
        ("see ", None),
        ("#1", "/t/None/1"),
        (" and ", None),
        ("m#2", "/t/m/2"),
        (".", None),
    ]


def test_render_leaves_refs_without_a_link_as_plain_text():
    text = "#1 <b>#2</b> #3"
    pieces = render_with_links(text, lambda r: None if r.number == 2 else f"/{r.number}")
    assert pieces == [("#1", "/1"), (" <b>#2</b> ", None), ("#3", "/3")]
    assert "".join(p for p, _ in pieces) == text


def test_render_links_ticket_urls_when_given_the_base_url():
    text = f"at {BASE}/m/tickets/9"
    pieces = render_with_links(text, lambda r: "/m/tickets/9/", base_url=BASE)
    assert pieces == [("at ", None), (f"{BASE}/m/tickets/9", "/m/tickets/9/")]


def test_render_of_text_without_refs_is_one_piece_and_empty_text_none():
    assert render_with_links("no refs", lambda r: "/x") == [("no refs", None)]
    assert render_with_links("", lambda r: "/x") == []
