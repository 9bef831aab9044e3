"""archive.parse against the generated corpus, Patchwork's test mails and hand-made mail."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest

from archive.headers import find_first_header
from archive.mbox import iter_mbox
from archive.parse import (
    ParsedMessage,
    extract_message_id,
    normalize_msgid,
    parse_message,
    parse_msgid_list,
    strip_subject_prefixes,
)
from tests.corpus import generated_messages, patchwork_files, require_corpus, truth


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def bare(msgid: str) -> str:
    return msgid.strip().removeprefix("<").removesuffix(">")


def mail(headers: str, body: str | bytes = "Hello.\n") -> bytes:
    """A message from header lines (joined with LF) and a body."""
    body_bytes = body.encode("utf-8") if isinstance(body, str) else body
    return headers.strip("\n").encode("utf-8") + b"\n\n" + body_bytes


BASIC = """\
From: Ann <ann@example.org>
To: list@example.org
Subject: hello
Date: Mon, 02 Jun 2025 10:00:00 +0200
Message-ID: <basic@example.org>
"""


@pytest.fixture(scope="module")
def small() -> list[tuple[bytes, dict, ParsedMessage]]:
    require_corpus()
    raws = generated_messages("small")
    return [
        (raw, meta, parse_message(raw))
        for raw, meta in zip(raws, truth("small")["messages"], strict=True)
    ]


def patchwork_messages(kind: str) -> list[tuple[str, bytes]]:
    out = []
    for path in patchwork_files(kind):
        if ".mbox" not in path.name:
            continue  # series/README.md
        with open(path, "rb") as f:
            out += [(path.name, raw) for raw in iter_mbox(f, fmt="mboxo")]
    return out


def patchwork_message(kind: str, name: str) -> ParsedMessage:
    [raw] = [raw for file, raw in patchwork_messages(kind) if file == name]
    return parse_message(raw)


# --- the generated corpus ----------------------------------------------------------------


def test_generated_messages_match_the_ground_truth(small):
    by_id = {meta["message_id"]: meta for _, meta, _ in small if "subject" in meta}
    mismatches = []
    for _, meta, parsed in small:
        subject = meta.get("subject", by_id.get(meta.get("duplicate_of"), {}).get("subject"))
        expected = {
            "message_id": bare(meta["message_id"]),
            "subject": squash(subject),
            "from": (meta["from"]["name"], meta["from"]["email"]),
            "in_reply_to": [bare(meta["in_reply_to"])] if meta["in_reply_to"] else [],
            "references": [bare(r) for r in meta["references"]],
            "date": datetime.fromisoformat(meta["date"].replace("Z", "+00:00")),
        }
        got = {
            "message_id": parsed.message_id,
            "subject": squash(parsed.subject),
            "from": (parsed.from_.name, parsed.from_.addr) if parsed.from_ else None,
            "in_reply_to": parsed.in_reply_to,
            "references": parsed.references,
            "date": parsed.date,
        }
        if got != expected:
            mismatches.append((meta["idx"], expected, got))
    assert mismatches == []
    assert len(small) == 2000


def test_generated_messages_have_no_problems(small):
    """The corpus is well-formed mail: any problem reported there is a false alarm."""
    assert [(meta["idx"], parsed.problems) for _, meta, parsed in small if parsed.problems] == []


def test_generated_messages_carry_the_list_id(small):
    assert {tuple(parsed.list_ids) for _, _, parsed in small} == {("pytest-dev.lists.example.org",)}


def test_raw_utf8_headers_in_the_corpus_decode_as_utf8(small):
    eight_bit = [
        parsed for raw, _, parsed in small if re.search(rb"[\x80-\xff]", raw.split(b"\n\n", 1)[0])
    ]
    assert len(eight_bit) >= 10  # about 1 % of the corpus
    for parsed in eight_bit:
        texts = [parsed.subject] + [a.name for a in [parsed.from_, *parsed.to, *parsed.cc]]
        assert not any("\ufffd" in t or re.search("[\udc80-\udcff]", t) for t in texts)


def test_html_alternatives_in_the_corpus_give_plain_body_and_html_flag(small):
    alternatives = [
        (raw, p)
        for raw, meta, p in small
        if (meta.get("mime") or {}).get("type") == "multipart/alternative"
    ]
    assert alternatives
    for _, parsed in alternatives:
        assert parsed.has_plain and parsed.has_html
        assert parsed.body and "<div>" not in parsed.body
        assert parsed.attachments == []


def test_attached_patches_in_the_corpus_are_in_body_and_attachments(small):
    attached = [(meta, parsed) for _, meta, parsed in small if meta.get("attached")]
    assert attached
    for _, parsed in attached:
        [attachment] = parsed.attachments
        assert attachment.content_type == "text/x-patch"
        assert attachment.filename.endswith(".patch")
        assert "diff --git" in parsed.body


def test_extract_message_id_agrees_with_parse_message(small):
    pairs = [(raw, parsed.message_id) for raw, _, parsed in small]
    for kind in ("mail", "fuzz", "series"):
        pairs += [(raw, parse_message(raw).message_id) for _, raw in patchwork_messages(kind)]
    assert [i for i, (raw, msgid) in enumerate(pairs) if extract_message_id(raw) != msgid] == []


# --- Patchwork's mails -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mail", "fuzz", "series"])
def test_every_patchwork_mail_parses(kind):
    messages = patchwork_messages(kind)
    assert messages
    for name, raw in messages:
        parsed = parse_message(raw)
        assert not [p for p in parsed.problems if p.startswith("internal")], name
        assert "\x00" not in parsed.body + parsed.subject, name


def test_every_fuzzed_mail_reports_problems():
    clean = {name for name, raw in patchwork_messages("fuzz") if not parse_message(raw).problems}
    assert clean == {"x-face.mbox"}  # a well-formed mail with an odd X-Face header


def test_fuzz_charset_reports_unknown_transfer_encoding():
    parsed = patchwork_message("fuzz", "charset.mbox")
    assert "unknown Content-Transfer-Encoding 't' in part 2" in parsed.problems
    assert parsed.message_id == "m"


def test_fuzz_base64err_reports_the_broken_header_block():
    parsed = patchwork_message("fuzz", "base64err.mbox")
    assert "malformed MIME: missing header body separator" in parsed.problems
    # The stray 'vemloft.net>,' line inside the Cc continues it (public-inbox's reading),
    # so the Date below it is read too.
    assert parsed.date == datetime(2016, 6, 1, 21, 58, 54, tzinfo=UTC)


def test_fuzz_msgid_len_keeps_the_first_id_and_reports_duplicates():
    parsed = patchwork_message("fuzz", "msgid-len.mbox")
    assert parsed.message_id == "1m"
    assert "duplicate Message-ID header" in parsed.problems
    assert any(p.startswith("NUL bytes") for p in parsed.problems)


def test_fuzz_msgid_len2_has_no_usable_message_id():
    parsed = patchwork_message("fuzz", "msgid-len2.mbox")
    assert parsed.message_id is None
    assert "unusable Message-ID: '>'" in parsed.problems


@pytest.mark.parametrize(
    "name", ["date-too-long.mbox", "year-out-of-range.mbox", "date-oserror.mbox"]
)
def test_fuzz_absurd_dates_give_no_date(name):
    parsed = patchwork_message("fuzz", name)
    assert parsed.date is None
    assert any(p.startswith("unparseable Date") for p in parsed.problems)


def test_fuzz_charset_with_nul_bytes_still_gives_the_body():
    parsed = patchwork_message("fuzz", "codec-null.mbox")
    assert "Explicit set skb->sk is needless" in parsed.body
    assert any("charset" in p for p in parsed.problems)


def test_patchwork_invalid_charset_reads_text_and_reports_it():
    parsed = patchwork_message("mail", "0010-invalid-charset.mbox")
    assert "unknown charset 'none' in part 1" in parsed.problems
    assert "fixes bug 16315" in parsed.body


def test_patchwork_unencoded_utf8_headers_decode():
    parsed = patchwork_message("mail", "0014-with-unencoded-utf8-headers.mbox")
    assert parsed.subject.endswith("to include Rafał Miłecki")
    assert parsed.from_.name == "Rafał Miłecki"
    assert parsed.problems == []


def test_patchwork_invalid_utf8_in_encoded_word_is_reported():
    parsed = patchwork_message("mail", "0015-with-invalid-utf8-headers.mbox")
    assert any(p.startswith("encoded word could not be decoded in Cc") for p in parsed.problems)
    assert parsed.from_.name == "Rafał Miłecki"


def test_patchwork_empty_subject_is_empty_string():
    assert patchwork_message("mail", "0016-no-subject.mbox").subject == ""


def test_patchwork_multipart_patch_reads_plain_part_only():
    parsed = patchwork_message("mail", "0019-multipart-patch.mbox")
    assert parsed.has_plain and parsed.has_html
    assert "diff --git" in parsed.body and "<html" not in parsed.body.lower()


# --- hand-made edge cases ---------------------------------------------------------------


def test_raw_utf8_header_decodes_as_utf8():
    parsed = parse_message(mail(BASIC.replace("hello", "Grüße aus Köln — 你好")))
    assert parsed.subject == "Grüße aus Köln — 你好"
    assert parsed.problems == []


def test_raw_latin1_header_falls_back_to_latin1_with_a_problem():
    raw = mail(BASIC).replace(b"hello", "Grüße".encode("latin-1"))
    parsed = parse_message(raw)
    assert parsed.subject == "Grüße"
    assert "raw 8-bit Subject header is not UTF-8, decoded as latin-1" in parsed.problems


def test_rfc2047_words_join_and_unfold():
    subject = (
        "Subject: =?UTF-8?B?R3LDvMOf?= =?UTF-8?Q?e_aus?=\n =?UTF-8?Q?_K=C3=B6ln?=\n"
        " [PATCH]\n\tfolded"
    )
    parsed = parse_message(mail(BASIC.replace("Subject: hello", subject)))
    assert parsed.subject == "Grüße aus Köln [PATCH] folded"


def test_multibyte_character_split_across_encoded_words():
    for words in ("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?=", "=?UTF-8?B?Y2Fmww==?= =?UTF-8?B?qQ==?="):
        parsed = parse_message(mail(BASIC.replace("hello", words)))
        assert parsed.subject == "café"
        assert parsed.problems == []


def test_encoded_display_names_are_decoded_after_splitting():
    headers = BASIC.replace(
        "To: list@example.org", "To: =?UTF-8?Q?Doe=2C_J=C3=B6rg?= <j@example.org>, b@example.org"
    )
    parsed = parse_message(mail(headers))
    assert [(a.name, a.addr) for a in parsed.to] == [
        ("Doe, Jörg", "j@example.org"),
        ("", "b@example.org"),
    ]


def test_unquoted_comma_in_display_name_keeps_one_address():
    """Raw UTF-8 headers in the corpus carry names like 'Schröder, Kevin' unquoted."""
    headers = BASIC.replace("From: Ann <ann@example.org>", "From: Schröder, Kevin <k@x.org>")
    headers = headers.replace("To: list@example.org", "To: Doe, Jane <j@x.org>, b@x.org")
    parsed = parse_message(mail(headers))
    assert (parsed.from_.name, parsed.from_.addr) == ("Schröder, Kevin", "k@x.org")
    assert [(a.name, a.addr) for a in parsed.to] == [("Doe, Jane", "j@x.org"), ("", "b@x.org")]


def test_display_names_keep_comments_as_written():
    headers = BASIC.replace("From: Ann <ann@example.org>", "From: Tom (TO) Øster <t@x.org>")
    headers = headers.replace("To: list@example.org", "To: list@x.org (the list)")
    parsed = parse_message(mail(headers))
    assert parsed.from_.name == "Tom (TO) Øster"
    assert [(a.name, a.addr) for a in parsed.to] == [("the list", "list@x.org")]


def test_unknown_charset_reads_utf8_with_a_problem():
    headers = BASIC + "Content-Type: text/plain; charset=x-unknown\n"
    parsed = parse_message(mail(headers, "naïve\n"))
    assert parsed.body == "naïve\n"
    assert "undecodable charset 'x-unknown', decoded as utf-8 in part 1" in parsed.problems


def test_unknown_charset_falls_back_to_latin1():
    headers = BASIC + "Content-Type: text/plain; charset=x-unknown\n"
    parsed = parse_message(mail(headers, "naïve\n".encode("latin-1")))
    assert parsed.body == "naïve\n"
    assert "undecodable charset 'x-unknown', decoded as latin-1 in part 1" in parsed.problems


def test_latin1_label_reads_windows_1252_quotes():
    headers = BASIC + "Content-Type: text/plain; charset=iso-8859-1\n"
    parsed = parse_message(mail(headers, b"\x93quoted\x94 caf\xe9\n"))
    assert parsed.body == "\u201cquoted\u201d café\n"
    assert parsed.problems == []


def test_broken_base64_is_reported_not_raised():
    headers = BASIC + "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n"
    parsed = parse_message(mail(headers, "SGVsbG8g!!d29ybGQ\n"))
    assert "bad base64 in part 1" in parsed.problems
    assert parsed.body.startswith("Hello")


def test_broken_quoted_printable_is_reported():
    headers = BASIC + "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n"
    parsed = parse_message(mail(headers, "caf=C3=A9 costs 5=\nEUR =ZZ\n"))
    assert parsed.body.startswith("café costs 5EUR")
    assert "bad quoted-printable in part 1" in parsed.problems


def test_missing_message_id():
    parsed = parse_message(mail(BASIC.replace("Message-ID: <basic@example.org>\n", "")))
    assert parsed.message_id is None
    assert "no Message-ID header" in parsed.problems


def test_overlong_message_id_is_dropped():
    long_id = "x" * 990 + "@e.org"
    parsed = parse_message(mail(BASIC.replace("basic@example.org", long_id)))
    assert parsed.message_id is None
    assert "Message-ID too long (998 characters)" in parsed.problems
    limit_id = "x" * 989 + "@e.org"
    assert parse_message(mail(BASIC.replace("basic@example.org", limit_id))).message_id


def test_duplicate_subject_keeps_the_first():
    parsed = parse_message(mail(BASIC + "Subject: second\n"))
    assert parsed.subject == "hello"
    assert parsed.problems == ["duplicate Subject header"]


def test_empty_input_gives_an_empty_result():
    for raw in (b"", b"\x00", b"\r\n"):
        parsed = parse_message(raw)
        assert parsed.message_id is None and parsed.subject == "" and parsed.body == ""
        assert "no Message-ID header" in parsed.problems
    assert "empty message" in parse_message(b"").problems
    assert "empty message" in parse_message(b"\n\n").problems


def test_nul_bytes_are_removed_from_text():
    parsed = parse_message(mail(BASIC.replace("hello", "hel\x00lo"), "bo\x00dy\n"))
    assert (parsed.subject, parsed.body) == ("hello", "body\n")
    assert any(p.startswith("NUL bytes") for p in parsed.problems)


def test_html_only_message_has_no_body():
    headers = BASIC + "Content-Type: text/html; charset=utf-8\n"
    parsed = parse_message(mail(headers, "<p>Hi <b>there</b></p>\n"))
    assert (parsed.has_html, parsed.has_plain, parsed.body) == (True, False, "")
    assert parsed.attachments == []


def multipart(subtype: str, *parts: str) -> bytes:
    body = "".join(f"--BOUND\n{part}\n" for part in parts) + "--BOUND--\n"
    headers = BASIC + f'MIME-Version: 1.0\nContent-Type: multipart/{subtype}; boundary="BOUND"\n'
    return mail(headers, body)


def test_multipart_alternative_reads_the_plain_part():
    parsed = parse_message(
        multipart(
            "alternative",
            "Content-Type: text/plain; charset=utf-8\n\nplain words",
            "Content-Type: text/html; charset=utf-8\n\n<p>html words</p>",
        )
    )
    assert parsed.has_plain and parsed.has_html
    assert parsed.body == "plain words"
    assert parsed.attachments == []


def test_patch_attachment_is_read_as_text_and_listed():
    parsed = parse_message(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nSee the patch.",
            'Content-Type: text/x-patch; name="0001-fix.patch"\n'
            'Content-Disposition: attachment; filename="0001-fix.patch"\n\n'
            "diff --git a/x b/x\n--- a/x\n+++ b/x",
        )
    )
    assert parsed.body == "See the patch.\ndiff --git a/x b/x\n--- a/x\n+++ b/x"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("0001-fix.patch", "text/x-patch")
    ]


def test_binary_and_named_text_attachments_are_not_in_body():
    parsed = parse_message(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nLogs attached.",
            'Content-Type: text/plain\nContent-Disposition: attachment; filename="out.log"\n\nlog',
            'Content-Type: application/octet-stream; name="=?UTF-8?Q?r=C3=A9sum=C3=A9.bin?="\n'
            "Content-Transfer-Encoding: base64\n\nAAECAw==",
        )
    )
    assert parsed.body == "Logs attached."
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("out.log", "text/plain", 3),
        ("résumé.bin", "application/octet-stream", 4),
    ]


def test_broken_boundary_keeps_the_text():
    headers = BASIC + 'Content-Type: multipart/mixed; boundary="nowhere"\n'
    parsed = parse_message(mail(headers, "just text, no parts\n"))
    assert "just text, no parts" in parsed.body
    assert any(p.startswith("malformed MIME") for p in parsed.problems)


def test_deeply_nested_multiparts_do_not_crash():
    depth = 3000
    opening = "".join(
        f'--b{i}\nContent-Type: multipart/mixed; boundary="b{i + 1}"\n\n' for i in range(depth)
    )
    headers = BASIC + 'Content-Type: multipart/mixed; boundary="b0"\n'
    parsed = parse_message(mail(headers, opening + "text\n"))
    assert parsed.message_id == "basic@example.org"
    assert parsed.subject == "hello"
    assert parsed.problems == ["malformed MIME: RecursionError, body not decoded"]


def test_forwarded_message_is_an_attachment():
    parsed = parse_message(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nForwarding.",
            "Content-Type: message/rfc822\n\nSubject: inner\n\ninner body",
        )
    )
    assert parsed.body == "Forwarding."
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]


def test_crlf_message_parses_like_lf():
    raw = mail(BASIC, "line one\nline two\n")
    crlf = parse_message(raw.replace(b"\n", b"\r\n"))
    assert crlf == parse_message(raw)


def test_date_is_utc_and_absurd_dates_are_dropped():
    assert parse_message(mail(BASIC)).date == datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    for date in ("Mon, 02 Jun 1900 10:00:00 +0000", "Mon, 02 Jun 2200 10:00:00 +0000"):
        parsed = parse_message(mail(BASIC.replace("Mon, 02 Jun 2025 10:00:00 +0200", date)))
        assert parsed.date is None
        assert f"absurd Date: {date!r}" in parsed.problems
    parsed = parse_message(mail(BASIC.replace("Mon, 02 Jun 2025 10:00:00 +0200", "soon")))
    assert parsed.date is None and "unparseable Date: 'soon'" in parsed.problems


def test_threading_headers():
    headers = BASIC + (
        "In-Reply-To: <p@x> (Ann's message of Monday)\n"
        "References: <a@x> <b@x>\n <a@x> junk <p@x>\n"
        "List-Id: Dev list <dev.lists.example.org>\n"
        "Auto-Submitted: Auto-Replied; owner=x\n"
    )
    parsed = parse_message(mail(headers))
    assert parsed.in_reply_to == ["p@x"]
    assert parsed.references == ["a@x", "b@x", "p@x"]
    assert parsed.list_ids == ["dev.lists.example.org"]
    assert parsed.auto_submitted == "auto-replied"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("<a@b>", "a@b"),
        (" a@b ", "a@b"),
        ("<a@b> (comment)", "a@b"),
        ("  <no-at-sign>  ", "no-at-sign"),
        ("", None),
        ("<>", None),
        ("a b@c", "a b@c"),  # a bare id is taken whole, as public-inbox takes it
        ("<a\x00b@c>", None),
        # public-inbox's t/mid.t: tabs, CR and LF inside an id are removed ...
        ("<hello\tworld@x>", "helloworld@x"),
        ("<hello\nworld@x>", "helloworld@x"),
        ("<hello\r\n\tworld@x>", "helloworld@x"),
        # ... and spaces, '<' and quotes are part of it, kept as sent.
        ("<sp ace@x>", "sp ace@x"),
        ("<a<b@x>", "a<b@x"),
        ('<"quoted"@x>', '"quoted"@x'),
        ("<" + "x" * 996 + ">", None),
    ],
)
def test_normalize_msgid(value, expected):
    assert normalize_msgid(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("<a@b> <c@d>", ["a@b", "c@d"]),
        ("<a@b>\n\t<c@d>", ["a@b", "c@d"]),
        ("bare@id", ["bare@id"]),
        ("two bare@ids here@x", []),
        ("Message from Ann of Monday", []),
        ("<a@b> <spaced id> <c@d>", ["a@b", "spaced id", "c@d"]),
        ("<a@b>\n\t<c\n\td@x>", ["a@b", "cd@x"]),
    ],
)
def test_parse_msgid_list(value, expected):
    assert parse_msgid_list(value) == expected


@pytest.mark.parametrize(
    "subject, expected",
    [
        ("Re: [PATCH] x", "[PATCH] x"),
        ("RE: Fwd: AW: Sv: Antw: Fw: x", "x"),
        ("Re[2]: re : x", "x"),
        ("[list] Re: x", "[list] Re: x"),
        ("Reconsider: x", "Reconsider: x"),
        ("x", "x"),
    ],
)
def test_strip_subject_prefixes(subject, expected):
    assert strip_subject_prefixes(subject) == expected


def test_random_mutations_never_raise():
    """A seeded fuzz over corpus and hand-made mail: the contract is 'never raises'."""
    require_corpus()
    rng = random.Random(20250602)
    seeds = generated_messages("small")[:50] + [raw for _, raw in patchwork_messages("fuzz")]
    inserts = [
        b"\x00",
        b"=?",
        b"?=",
        b"\r",
        b"\n\n",
        b"<",
        b"=?utf-8?b?",
        b"\xff",
        b"Content-Type: multipart/mixed; boundary=x\n",
        b"--x\n",
    ]
    for _ in range(400):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 12)):
            at = rng.randrange(len(raw) + 1)
            if rng.random() < 0.5:
                raw[at:at] = rng.choice(inserts)
            else:
                del raw[at : at + rng.randint(1, 40)]
        parsed = parse_message(bytes(raw))
        assert not [p for p in parsed.problems if p.startswith("internal")]
        extract_message_id(bytes(raw))


# public-inbox t/eml.t: "linux-mips apparently got some messages injected w/o Message-ID
# and long Subject: lines w/o leading whitespace".
UNINDENTED = (
    b"Message-ID: <20101130193431@z>\n"
    b"Subject: something really long\n"
    b"and really wrong\n"
    b"From: linux-mips archive injection\n"
    b"Object-Id: 8c56b7abdd551b1264e6522ededbbed9890cccd0\n"
)


@pytest.mark.parametrize("ending", [b"", b"\nbody\n"])
def test_a_header_line_without_colon_continues_the_header_before(ending):
    for raw in (UNINDENTED + ending, (UNINDENTED + ending).replace(b"\n", b"\r\n")):
        parsed = parse_message(raw)
        assert parsed.subject == "something really long and really wrong"
        assert find_first_header(raw, b"from").strip() == b"linux-mips archive injection"
        assert (
            find_first_header(raw, b"subject").split()
            == b"something really long and really wrong".split()
        )
        assert parsed.from_ is not None  # 'subsequent line not corrupted'
        assert parsed.message_id == "20101130193431@z" == extract_message_id(raw)
        assert parsed.body == ending.lstrip(b"\n").decode()
        assert not any("separator" in p for p in parsed.problems), parsed.problems


def test_header_fields_after_an_unindented_line_are_read():
    raw = (
        b"Subject: wrapped\nby a broken mailer\nFrom: Ann <ann@example.org>\n"
        b"Message-ID: <late@example.org>\nDate: Mon, 02 Jun 2025 10:00:00 +0200\n\nHello.\n"
    )
    parsed = parse_message(raw)
    assert parsed.from_ is not None and parsed.from_.addr == "ann@example.org"
    assert parsed.message_id == "late@example.org" == extract_message_id(raw)
    assert parsed.date is not None and parsed.body == "Hello.\n"


@pytest.mark.parametrize(
    "raw, body",
    [
        # Lines after the last field start the body, as without the blank line they did.
        (
            b"Subject: s\nMessage-ID: <b@x>\nHello there\nsecond line\n",
            "Hello there\nsecond line\n",
        ),
        # A body that begins with its MIME boundary keeps its parts.
        (
            b"Message-ID: <b@x>\nContent-Type: multipart/mixed; boundary=b\n--b\n"
            b"Content-Type: text/plain\n\npart text\n--b--\n",
            "part text",
        ),
        # No header at all: the whole message is body.
        (b"just text\nSubject: not a header here\n\nmore\n", None),
    ],
)
def test_lines_that_do_not_continue_a_header_stay_where_they_are(raw, body):
    parsed = parse_message(raw)
    if body is not None:
        assert parsed.message_id == "b@x"
        assert parsed.body.strip() == body.strip()
    else:
        assert parsed.subject == "" and parsed.message_id is None


def test_references_drop_the_to_address_and_git_send_email_answers():
    headers = BASIC + ("In-Reply-To: <y>\nReferences: <a@x> <n> <Y> <List@example.org> <b@x>\n")
    parsed = parse_message(mail(headers))
    assert [a.addr for a in parsed.to] == ["list@example.org"]
    assert parsed.references == ["a@x", "b@x"]
    assert parsed.in_reply_to == []


def test_a_second_message_id_header_is_kept_as_an_extra_id():
    headers = BASIC.replace(
        "Message-ID: <basic@example.org>",
        "Message-ID: <basic@example.org>\nMessage-ID: <second@example.org>",
    )
    assert "Message-ID: <second@example.org>" in headers
    parsed = parse_message(mail(headers))
    assert parsed.message_id == "basic@example.org"
    assert parsed.extra_message_ids == ["second@example.org"]


def test_references_keep_a_bounded_tail():
    from archive.headers import MAX_REFERENCES

    refs = " ".join(f"<r{i}@x>" for i in range(5000))
    parsed = parse_message(mail(BASIC + f"References: {refs}\n"))
    assert len(parsed.references) == MAX_REFERENCES
    assert parsed.references[-1] == "r4999@x"
    assert any(p.startswith("References cut") for p in parsed.problems)


def test_a_folded_message_id_loses_its_line_break_in_both_readers():
    raw = mail(BASIC.replace("<basic@example.org>", "<basic@\n\texample.org>"))
    assert parse_message(raw).message_id == "basic@example.org"
    assert extract_message_id(raw) == "basic@example.org"
