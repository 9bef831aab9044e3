"""The RFC 1153 plain-text digest: its layout, its stuffing, and bursting it back apart."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from lists.digest_text import (
    MESSAGE_SEPARATOR,
    TOPICS_SEPARATOR,
    DigestEntry,
    digest_body,
    digest_subject,
)

ALICE = DigestEntry(
    author="Alice Example <alice@example.org>",
    date=datetime(2024, 1, 2, 10, 0, tzinfo=UTC),
    subject="[dev] Release plan",
    message_id="plan-1@example.org",
    body="The release is on Friday.\n\nWho is in?\n",
)
BOB = DigestEntry(
    author="bob@example.com",
    date=datetime(2024, 1, 2, 11, 30, tzinfo=UTC),
    subject="Re: [dev] Release plan",
    message_id="plan-2@example.com",
    body="I am.\r\n",
)


def body(entries, **changes) -> str:
    arguments = {
        "archive_url": "https://lists.example.org/dev/",
        "help_address": "dev+help@lists.example.org",
        "unsubscribe_address": "dev+unsubscribe@lists.example.org",
    }
    arguments.update(changes)
    return digest_body("dev", "dev@lists.example.org", 1, 3, entries, **arguments)


def burst(digest: str) -> list[str]:
    """Split a digest as a mail reader does: at the 70-hyphen line, then at 30-hyphen lines."""
    _, _, messages = digest.partition(f"\n{TOPICS_SEPARATOR}\n\n")
    return messages.split(f"\n{MESSAGE_SEPARATOR}\n\n")


def test_subject_names_list_volume_and_issue():
    assert digest_subject("dev", 1, 3) == "dev Digest, Vol 1, Issue 3"


def test_digest_has_the_rfc_1153_layout():
    assert body([ALICE, BOB]) == (
        "Send dev mailing list submissions to\n"
        "    dev@lists.example.org\n"
        "\n"
        "The archive of dev is at\n"
        "    https://lists.example.org/dev/\n"
        "\n"
        "For help with the list, write to\n"
        "    dev+help@lists.example.org\n"
        "\n"
        "To stop receiving the digest, or to unsubscribe, write to\n"
        "    dev+unsubscribe@lists.example.org\n"
        "\n"
        "When replying, please edit your Subject line so it is more specific\n"
        'than "Re: dev Digest, Vol 1, Issue 3".\n'
        "\n"
        "\n"
        "Today's Topics:\n"
        "\n"
        "   1. [dev] Release plan (Alice Example)\n"
        "   2. Re: [dev] Release plan (bob@example.com)\n"
        "\n"
        "\n" + "-" * 70 + "\n"
        "\n"
        "Date: Tue, 02 Jan 2024 10:00:00 +0000\n"
        "From: Alice Example <alice@example.org>\n"
        "Subject: [dev] Release plan\n"
        "Message-ID: <plan-1@example.org>\n"
        "\n"
        "The release is on Friday.\n"
        "\n"
        "Who is in?\n"
        "\n" + "-" * 30 + "\n"
        "\n"
        "Date: Tue, 02 Jan 2024 11:30:00 +0000\n"
        "From: bob@example.com\n"
        "Subject: Re: [dev] Release plan\n"
        "Message-ID: <plan-2@example.com>\n"
        "\n"
        "I am.\n"
        "\n" + "-" * 30 + "\n"
        "\n"
        "End of dev Digest, Vol 1, Issue 3\n"
        "*********************************\n"
    )


def test_trailer_stars_are_as_long_as_the_end_line():
    text = digest_body(
        "team.dev-ops",
        "team.dev-ops@lists.example.org",
        12,
        345,
        [ALICE],
        archive_url="",
        help_address="h@x",
        unsubscribe_address="u@x",
    )
    end, stars = text.splitlines()[-2:]
    assert end == "End of team.dev-ops Digest, Vol 12, Issue 345"
    assert stars == "*" * len(end)


def test_body_lines_starting_with_a_hyphen_are_stuffed():
    forged = DigestEntry(
        author="Mallory <mallory@example.net>",
        date=None,
        subject="separators",
        message_id="forge@example.net",
        body="before\n------------------------------\n\nDate: forged\n-- \nsig\n- item\n",
    )
    text = body([forged, ALICE])
    assert "\n- ------------------------------\n" in text
    assert "\n- -- \nsig\n- - item\n" in text
    assert len(burst(text)) == 3  # two messages and the trailer, nothing forged


def test_digest_bursts_into_one_part_per_message_with_its_headers():
    messages = burst(body([ALICE, BOB]))
    assert len(messages) == 3
    for entry, part in zip([ALICE, BOB], messages, strict=False):
        headers, _, text = part.partition("\n\n")
        assert f"Message-ID: <{entry.message_id}>" in headers.splitlines()
        assert text.rstrip("\n") == entry.body.strip().replace("\r\n", "\n")
    assert messages[2].startswith("End of dev Digest, Vol 1, Issue 3\n")


def test_body_is_trimmed_of_blank_lines_at_both_ends_and_keeps_indentation():
    entry = DigestEntry("a@example.org", None, "s", "m@x", "\n\n   indented\n  \n\n")
    part = burst(body([entry]))[0]
    assert part.endswith("<m@x>\n\n   indented\n")


def test_carriage_returns_become_newlines():
    entry = DigestEntry("a@example.org", None, "s", "m@x", "one\r\ntwo\rthree")
    assert "\n\none\ntwo\nthree\n\n" + MESSAGE_SEPARATOR in body([entry])
    assert "\r" not in body([entry])


def test_missing_date_leaves_the_date_line_out():
    entry = DigestEntry("a@example.org", None, "s", "m@x", "text")
    assert burst(body([entry]))[0].startswith("From: a@example.org\nSubject: s\n")


def test_header_fields_are_kept_on_one_line():
    entry = DigestEntry("Eve\n <eve@example.org>", None, "two\n\nlines", "<id@x>\n", "text\n")
    part = burst(body([entry]))[0]
    assert part.startswith(
        "From: Eve <eve@example.org>\nSubject: two lines\nMessage-ID: <id@x>\n\ntext"
    )


def test_empty_subject_and_author_still_make_a_topic():
    entry = DigestEntry("", None, "  ", "m@x", "text")
    assert "   1. (no subject) (unknown)\n" in body([entry])


def test_long_topics_wrap_under_their_subject():
    entry = DigestEntry(
        "Alice Example <alice@example.org>",
        None,
        "A rather long subject line about the release plan for the next version",
        "m@x",
        "text",
    )
    topics = body([entry]).split("Today's Topics:\n\n")[1].split("\n\n")[0].splitlines()
    assert topics[0].startswith("   1. A rather long")
    assert all(len(line) <= 70 for line in topics)
    assert all(line.startswith("      ") for line in topics[1:])
    assert " ".join(line.strip() for line in topics).endswith("(Alice Example)")


def test_topics_are_numbered_in_order():
    entries = [
        DigestEntry(f"u{n}@example.org", None, f"topic {n}", f"m{n}@x", "t") for n in range(1, 12)
    ]
    numbers = re.findall(r"^ *(\d+)\. topic (\d+)", body(entries), re.MULTILINE)
    assert numbers == [(str(n), str(n)) for n in range(1, 12)]
    assert "  11. topic 11 (u11@example.org)\n" in body(entries)


def test_empty_digest_says_there_are_no_messages():
    text = body([])
    assert "Today's Topics:\n\n   There are no messages in this issue.\n" in text
    assert text.endswith(
        TOPICS_SEPARATOR
        + "\n\nEnd of dev Digest, Vol 1, Issue 3\n*********************************\n"
    )
    assert MESSAGE_SEPARATOR + "\n" not in text.split(TOPICS_SEPARATOR)[1]


def test_non_ascii_text_is_kept_as_text():
    entry = DigestEntry(
        author="Jürgen Groß <juergen@example.de>",
        date=datetime(2024, 1, 2, 12, 0, tzinfo=UTC),
        subject="Grüße aus Köln — 日本語のテスト",
        message_id="gruss@example.de",
        body="Schöne Grüße,\n— Jürgen\n-ü\n",
    )
    text = body([entry])
    assert "   1. Grüße aus Köln — 日本語のテスト (Jürgen Groß)\n" in text
    assert "From: Jürgen Groß <juergen@example.de>\n" in text
    assert "\nSchöne Grüße,\n— Jürgen\n- -ü\n" in text
    text.encode("utf-8")  # the caller encodes; nothing here is half-encoded


def test_empty_preamble_values_are_left_out():
    text = body([ALICE], archive_url="", help_address=" ")
    assert "archive" not in text.split("Today's Topics:")[0]
    assert "For help" not in text
    assert "To stop receiving the digest, or to unsubscribe, write to\n" in text


def test_output_lines_end_in_newline_only():
    text = body([ALICE, BOB])
    assert text.endswith("*\n") and "\r" not in text
