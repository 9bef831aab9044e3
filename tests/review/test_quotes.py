"""Inline comments read from replies (review.quotes, review.diff_lines), on hand-written
mutt-style replies and on every review reply of the generated corpus."""

from __future__ import annotations

from review.diff_lines import Region, Side, line_positions
from review.quotes import anchor_comments

PATCH = """\
Spell fifteen out

Signed-off-by: Ada <ada@example.org>
---
 hello.txt | 3 ++-

diff --git a/hello.txt b/hello.txt
index 1111111..2222222 100644
--- a/hello.txt
+++ b/hello.txt
@@ -13,5 +13,6 @@ line 12
 line 13
 line 14
-line 15
+line fifteen
+line fifteen and a half
 line 16
 line 17
--\x20
2.39.5
"""


def test_a_comment_under_a_quoted_line_is_anchored_to_it() -> None:
    reply = """\
On Mon, 1 Jan 2026 at 10:00, Ada <ada@example.org> wrote:
> Spell fifteen out
[...]
> -line 15
> +line fifteen

Why not "15"?

> +line fifteen and a half

This one is odd.
[snip]

Reviewed-by: Rita <rita@example.org>
--\x20
Rita
"""
    lines = PATCH.split("\n")
    comments = anchor_comments(reply, lines)
    assert [(c.text, c.anchor) for c in comments] == [
        ('Why not "15"?', lines.index("+line fifteen")),
        ("This one is odd.\n\nReviewed-by: Rita <rita@example.org>",
         lines.index("+line fifteen and a half")),
    ]  # fmt: skip
    position = line_positions(PATCH)[comments[0].anchor]
    assert (position.region, position.path, position.new_line, position.side) == (
        Region.diff, "hello.txt", 15, Side.new,
    )  # fmt: skip


def test_a_top_post_is_a_general_comment_and_the_signature_is_not_a_removed_line() -> None:
    reply = "Looks good to me.\n\nOn Mon, Ada wrote:\n> Spell fifteen out\n> \n"
    [comment] = anchor_comments(reply, PATCH.split("\n"))
    assert (comment.text, comment.anchor) == ("Looks good to me.", None)
    positions = line_positions(PATCH)
    assert [p.side for p in positions].count(Side.old) == 1  # "-line 15", not "-- "


def test_comments_on_the_commit_message_and_rewrapped_quotes() -> None:
    long_line = "This is a long line of the commit message that a mail client will wrap."
    patch = f"Subject\n\n{long_line}\n\n---\n"
    reply = (
        "> This is a long line of the commit message that a mail\n"
        "> client will wrap.\n\nPlease shorten it.\n"
    )
    [comment] = anchor_comments(reply, patch.split("\n"))
    assert comment.anchor == 2 and line_positions(patch)[2].region is Region.message


def test_deeper_quotes_are_the_grandparents_and_unknown_quotes_stay_text() -> None:
    reply = "> > -line 15\n> I disagree.\n\nI agree with Ada.\n"
    parent = ["On Tue, Bo wrote:", "> -line 15", "I disagree.", ""]
    [comment] = anchor_comments(reply, parent)
    assert (comment.text, comment.anchor) == ("I agree with Ada.", 2)
    [kept] = anchor_comments("> not in the parent at all\n\nHm.\n", parent)
    assert kept.anchor is None and kept.text == "> not in the parent at all\n\nHm."


def test_the_quotes_of_the_corpus_review_replies_are_found_in_the_patches() -> None:
    """Every reply to a patch in the small corpus: its quoted blocks are found in the
    patch mail (subject line first, as reviewers quote it), all but a handful."""
    from archive.parse import parse_message
    from review.quotes import find_quote, parse_reply
    from tests.corpus import generated_messages, truth

    facts = truth("small")["messages"]
    bodies = {
        m["message_id"]: parse_message(raw).body
        for m, raw in zip(facts, generated_messages("small"), strict=True)
    }
    subjects = {m["message_id"]: m.get("subject", "") for m in facts}
    blocks, misses = 0, []
    for m in facts:
        parent = m.get("in_reply_to")
        if m["kind"] != "reply" or m.get("target") != "patch" or parent not in bodies:
            continue
        lines = [subjects[parent], *bodies[parent].split("\n")]
        for run in parse_reply(bodies[m["message_id"]]):
            if run.level == 1:
                blocks += 1
                if find_quote(run.lines, lines) is None:
                    misses.append((m["message_id"], run.lines[:3]))
    assert blocks > 500
    assert len(misses) <= blocks // 100, misses
