"""The copy a subscriber receives: list headers on top of the posted bytes, and only the
changes the list's options ask for."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import email.utils
from email.message import EmailMessage

import dkim as dkimpy
import pytest

from lists.list_copy import (
    CLEANSED_FIELDS,
    ListIdentity,
    Mitigation,
    add_unsubscribe_headers,
    list_copy,
)
from lists.list_copy_mime import FOOTER_SEPARATOR
from mail.dns import dkim_dnsfunc
from tests.intake import sign

DEV = ListIdentity("dev", "lists.example.org", "Development", "https://lists.example.org")
ARCHIVED_AT = "https://lists.example.org/dev/123@example.com/"
FOOTER = "dev mailing list\nhttps://lists.example.org/dev/"


def message(*headers: str, body: str | bytes = "Hello, list.\n", eol: str = "\r\n") -> bytes:
    """A message from header lines and a body, every line ending in `eol`."""
    if isinstance(body, str):
        body = body.replace("\n", eol).encode("utf-8")
    head = eol.join(headers or ("From: Alice <alice@example.com>", "Subject: hello"))
    return head.encode("utf-8") + eol.encode() + eol.encode() + body


def post(**headers_and_body) -> bytes:
    """A usual post: From, To, Subject, Date, Message-ID, then whatever else is given."""
    extra = headers_and_body.pop("extra", ())
    return message(
        "From: Alice Liddell <alice@example.com>",
        "To: dev@lists.example.org",
        "Subject: hello",
        "Date: Mon, 01 Jan 2024 12:00:00 +0000",
        "Message-ID: <123@example.com>",
        *extra,
        **headers_and_body,
    )


def copy_of(
    raw: bytes,
    ident: ListIdentity = DEV,
    mitigation: Mitigation = Mitigation.none,
    **options: str,
) -> bytes:
    ident = dataclasses.replace(ident, **options)
    return list_copy(raw, ident, archived_at=ARCHIVED_AT, mitigation=mitigation)


def parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def text_of(part: EmailMessage) -> str:
    """A text part's content with line ends as Python writes them."""
    return part.get_content().replace("\r\n", "\n")


def header_lines(raw: bytes) -> list[bytes]:
    """The header block's lines (continuations separate), line ends removed."""
    eol = b"\r\n" if b"\r\n" in raw.split(b"\n", 1)[0] + b"\n" else b"\n"
    return raw.split(eol + eol, 1)[0].split(eol)


# -- the posted bytes survive ----------------------------------------------------------


def test_author_dkim_signature_survives_list_headers(rsa_key, publish):
    publish("example.com")
    raw = sign(post(extra=("List-Id: <other.example.net>",)), "example.com", rsa_key[0])
    copy = copy_of(raw)
    copy = add_unsubscribe_headers(copy, DEV, one_click_url="https://lists.example.org/u/x")
    assert dkimpy.verify(copy, dnsfunc=dkim_dnsfunc)


def test_author_dkim_signature_survives_on_lf_input(rsa_key, publish):
    publish("example.com")
    lf = post(eol="\n")
    raw = dkimpy.sign(lf, b"sel", b"example.com", rsa_key[0], linesep=b"\n") + lf
    assert b"\r" not in raw
    copy = add_unsubscribe_headers(copy_of(raw), DEV, one_click_url=None)
    assert dkimpy.verify(copy, dnsfunc=dkim_dnsfunc)


def test_posted_bytes_follow_the_list_headers_unchanged():
    raw = post(extra=("X-Mailer: mutt\r\n  (folded, oddly)",), body="body\n\n\n")
    copy = copy_of(raw)
    assert copy.endswith(raw)
    assert text_of(parsed(copy)) == "body\n\n\n"


def test_body_without_final_line_end_is_kept_as_it_ended():
    raw = post(body="no newline at the end")
    assert copy_of(raw).endswith(b"\r\n\r\nno newline at the end")


# -- the list's headers ----------------------------------------------------------------


def test_list_headers_are_prepended_in_order():
    copy = copy_of(post())
    names = [line.split(b":", 1)[0] for line in header_lines(copy)[:8]]
    assert names == [
        b"List-Id",
        b"List-Post",
        b"List-Help",
        b"List-Archive",
        b"Archived-At",
        b"List-Subscribe",
        b"Sender",
        b"Precedence",
    ]
    msg = parsed(copy)
    assert msg["List-Id"] == '"Development" <dev.lists.example.org>'
    assert msg["List-Post"] == "<mailto:dev@lists.example.org>"
    assert msg["List-Help"] == "<mailto:dev+help@lists.example.org>"
    assert msg["List-Archive"] == "<https://lists.example.org/dev/>"
    assert msg["Archived-At"] == f"<{ARCHIVED_AT}>"
    assert msg["List-Subscribe"] == "<mailto:dev+subscribe@lists.example.org>"
    assert msg["Sender"] == "dev+bounces@lists.example.org"
    assert msg["Precedence"] == "list"


def test_list_id_without_description_is_the_bare_id():
    copy = copy_of(post(), description="")
    assert header_lines(copy)[0] == b"List-Id: <dev.lists.example.org>"


def test_list_id_description_with_quotes_is_quoted_properly():
    copy = copy_of(post(), description='The "dev" list \\ more')
    name, addr = email.utils.parseaddr(parsed(copy)["List-Id"])
    assert (name, addr) == ('The "dev" list \\ more', "dev.lists.example.org")


def test_non_ascii_list_description_is_rfc2047_encoded():
    copy = copy_of(post(), description="Développeurs du projet")
    assert header_lines(copy)[0].isascii()
    assert b"=?utf-8?" in header_lines(copy)[0]
    assert parsed(copy)["List-Id"] == "Développeurs du projet <dev.lists.example.org>"


@pytest.mark.parametrize("word", ["word", "wörd"])
def test_long_list_headers_are_folded_under_78_characters(word):
    description = " ".join([word] * 40)
    copy = add_unsubscribe_headers(
        copy_of(post(), description=description, name="a-rather-long-list-name"),
        DEV,
        one_click_url="https://lists.example.org/unsubscribe/" + "x" * 10,
    )
    block = header_lines(copy)
    ours = block[: block.index(b"Precedence: list") + 1]
    assert len(ours) > 10  # List-Id and List-Unsubscribe were folded
    assert all(len(line) < 78 and line.isascii() for line in ours)
    expected = description + " <a-rather-long-list-name.lists.example.org>"
    assert parsed(copy)["List-Id"].replace('"', "") == expected


def test_lf_input_gets_lf_list_headers():
    copy = add_unsubscribe_headers(copy_of(post(eol="\n")), DEV, one_click_url="https://u/1")
    assert b"\r" not in copy
    assert parsed(copy)["List-Post"] == "<mailto:dev@lists.example.org>"


def test_crlf_input_gets_crlf_list_headers():
    copy = add_unsubscribe_headers(copy_of(post()), DEV, one_click_url="https://u/1")
    assert b"\n" not in copy.replace(b"\r\n", b"")


def test_archived_at_cannot_break_out_of_its_header():
    copy = list_copy(
        post(), DEV, archived_at="https://x/<a b>\r\nBcc: evil@x", mitigation=Mitigation.none
    )
    assert parsed(copy)["Archived-At"] == "<https://x/%3Ca%20b%3E%0D%0ABcc:%20evil@x>"
    assert parsed(copy)["Bcc"] is None


def test_list_description_cannot_add_a_header():
    copy = copy_of(post(), description="Dev\r\nBcc: evil@example.net")
    assert parsed(copy)["Bcc"] is None
    assert email.utils.parseaddr(parsed(copy)["List-Id"])[0] == "Dev Bcc: evil@example.net"


# -- what a post must not bring along -------------------------------------------------


def test_other_lists_headers_and_receipt_requests_are_removed():
    cased = {name: "-".join(p.capitalize() for p in name.split("-")) for name in CLEANSED_FIELDS}
    extra = [f"{cased[name]}: <value-of-{name}@other.example.net>" for name in CLEANSED_FIELDS]
    raw = post(extra=("Received: from x by y; Mon, 01 Jan 2024", *extra, "X-Other: kept"))
    copy = copy_of(raw, description="")
    assert b"other.example.net" not in copy
    msg = parsed(copy)
    assert msg["List-Id"] == "<dev.lists.example.org>"
    assert msg["Sender"] == "dev+bounces@lists.example.org"
    assert msg["X-Other"] == "kept" and msg["Received"].startswith("from x")
    assert msg["Return-Path"] is None and msg["Disposition-Notification-To"] is None
    assert len(msg.get_all("List-Id")) == 1 and len(msg.get_all("Precedence")) == 1


def test_removed_header_takes_its_folded_lines_along():
    raw = post(
        extra=(
            "List-Id: Some other list\r\n <other.example.net>",
            "Return-Receipt-To:\r\n\talice@example.com",
            "X-After: kept\r\n still kept",
        )
    )
    copy = copy_of(raw)
    assert b"other.example.net" not in copy and b"\talice" not in copy
    assert b"X-After: kept\r\n still kept\r\n" in copy
    assert copy.endswith(raw.replace(raw[raw.index(b"List-Id") : raw.index(b"X-After")], b""))


# -- unsubscribing ---------------------------------------------------------------------


def test_one_click_unsubscribe_headers_follow_rfc_8058():
    copy = copy_of(post())
    out = add_unsubscribe_headers(copy, DEV, one_click_url="https://lists.example.org/u/tok")
    assert out.endswith(copy)
    msg = parsed(out)
    assert msg["List-Unsubscribe"] == (
        "<https://lists.example.org/u/tok>, <mailto:dev+unsubscribe@lists.example.org>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_without_one_click_url_unsubscribe_is_mailto_only():
    out = add_unsubscribe_headers(copy_of(post()), DEV, one_click_url=None)
    msg = parsed(out)
    assert msg["List-Unsubscribe"] == "<mailto:dev+unsubscribe@lists.example.org>"
    assert msg["List-Unsubscribe-Post"] is None


# -- subject tag -----------------------------------------------------------------------


def test_subject_tag_is_off_by_default():
    assert parsed(copy_of(post()))["Subject"] == "hello"


def test_subject_tag_goes_before_re():
    raw = message("From: alice@example.com", "Subject: Re: x", "To: dev@lists.example.org")
    copy = copy_of(raw, subject_prefix="dev")
    assert parsed(copy)["Subject"] == "[dev] Re: x"
    assert copy.endswith(raw.replace(b"Subject: Re: x", b"Subject: [dev] Re: x"))


def test_subject_tag_is_not_added_twice_whatever_its_case():
    raw = message("From: alice@example.com", "Subject: Re: [DEV] x")
    copy = copy_of(raw, subject_prefix="dev")
    assert copy.endswith(raw)


def test_encoded_subject_is_tagged_and_encoded_again():
    raw = message("From: alice@example.com", "Subject: =?utf-8?q?caf=C3=A9?=", "X-Last: 1")
    copy = copy_of(raw, subject_prefix="dev")
    assert parsed(copy)["Subject"] == "[dev] café"
    subject_line = next(line for line in header_lines(copy) if line.startswith(b"Subject:"))
    assert subject_line.isascii()
    assert copy.endswith(b"X-Last: 1\r\n\r\nHello, list.\r\n")


def test_8bit_folded_subject_is_tagged_and_encoded():
    raw = message("From: a@example.com", "Subject: Grüße\r\n aus Köln", eol="\r\n")
    copy = copy_of(raw, subject_prefix="dev")
    assert copy.split(b"Subject:", 1)[1].split(b"\r\n\r\n")[0].isascii()
    assert parsed(copy)["Subject"] == "[dev] Grüße aus Köln"


def test_long_tagged_subject_is_folded():
    raw = message("From: a@example.com", "Subject: " + "wörd " * 30, eol="\n")
    copy = copy_of(raw, subject_prefix="dev")
    assert all(len(line) <= 78 for line in header_lines(copy))
    assert parsed(copy)["Subject"] == "[dev] " + " ".join(["wörd"] * 30)


def test_post_without_subject_gets_no_subject():
    raw = message("From: alice@example.com", "To: dev@lists.example.org")
    assert parsed(copy_of(raw, subject_prefix="dev"))["Subject"] is None


# -- footer ----------------------------------------------------------------------------


def test_footer_is_appended_to_plain_text_keeping_the_body_bytes():
    raw = post(body="Hello,\nlist.\n")
    copy = copy_of(raw, footer=FOOTER)
    assert copy.endswith(raw + f"{FOOTER_SEPARATOR}\n{FOOTER}\n".replace("\n", "\r\n").encode())
    text = text_of(parsed(copy))
    assert text == f"Hello,\nlist.\n{FOOTER_SEPARATOR}\n{FOOTER}\n"


def test_footer_starts_on_its_own_line():
    copy = copy_of(post(body="no newline"), footer="the footer")
    assert text_of(parsed(copy)) == f"no newline\n{FOOTER_SEPARATOR}\nthe footer\n"


def test_footer_on_lf_message_uses_lf():
    copy = copy_of(post(body="Hello.\n", eol="\n"), footer=FOOTER)
    assert b"\r" not in copy
    assert parsed(copy).get_content().endswith(FOOTER + "\n")


def test_footer_in_quoted_printable_body_is_encoded_too():
    raw = post(
        extra=(
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=iso-8859-1",
            "Content-Transfer-Encoding: quoted-printable",
        ),
        body="caf=E9 cr=E8me=\nbr=FBl=E9e\n",
    )
    copy = copy_of(raw, footer="Café footer")
    msg = parsed(copy)
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert msg.get_content_charset() == "iso-8859-1"
    assert text_of(msg) == f"café crèmebrûlée\n{FOOTER_SEPARATOR}\nCafé footer\n"
    assert b"Caf=E9 footer" in copy


def test_footer_in_base64_body_is_encoded_too():
    text = "Grüße,\nAlice\n" * 20
    raw = post(
        extra=(
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
        ),
        body=base64.encodebytes(text.encode()).decode(),
    )
    copy = copy_of(raw, footer=FOOTER)
    msg = parsed(copy)
    assert msg["Content-Transfer-Encoding"] == "base64"
    assert text_of(msg) == text + f"{FOOTER_SEPARATOR}\n{FOOTER}\n"
    body = copy.split(b"\r\n\r\n", 1)[1]
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))


def test_footer_the_charset_cannot_hold_turns_the_part_into_utf8():
    raw = post(
        extra=(
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=iso-8859-1; format=flowed",
            "Content-Transfer-Encoding: 8bit",
        ),
        body="Caf\xe9 au lait\r\n".encode("latin-1"),
    )
    copy = copy_of(raw, footer="Ünïcödé ✓")
    msg = parsed(copy)
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_param("format") == "flowed"
    assert text_of(msg) == f"Café au lait\n{FOOTER_SEPARATOR}\nÜnïcödé ✓\n"


def test_non_ascii_footer_on_7bit_ascii_post_is_declared_and_quoted_printable():
    raw = message("From: a@example.com", "Subject: x", body="plain ascii\n")
    copy = copy_of(raw, footer="Liste für Entwickler")
    assert copy.isascii()
    msg = parsed(copy)
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    assert msg["MIME-Version"] == "1.0"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert text_of(msg) == f"plain ascii\n{FOOTER_SEPARATOR}\nListe für Entwickler\n"


MIXED = (
    "--b1\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    "See attached.\n"
    "--b1\n"
    "Content-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n"
    'Content-Disposition: attachment; filename="x.bin"\n\n'
    "AAECAw==\n"
    "--b1--\n"
    "epilogue\n"
)


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_footer_is_the_last_part_of_multipart_mixed(eol):
    raw = post(extra=("MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"'))
    raw = raw.split(b"\r\n\r\n")[0].replace(b"\r\n", eol.encode()) + eol.encode() * 2
    raw += MIXED.replace("\n", eol).encode()
    copy = copy_of(raw, footer=FOOTER)
    parts = list(parsed(copy).iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "application/octet-stream",
        "text/plain",
    ]
    assert text_of(parts[0]) == "See attached."
    assert parts[1].get_content() == b"\x00\x01\x02\x03"
    assert parts[2].get_content_charset() == "utf-8"
    assert text_of(parts[2]) == f"{FOOTER_SEPARATOR}\n{FOOTER}\n"
    assert copy.endswith(f"--b1--{eol}epilogue{eol}".encode())
    if eol == "\n":
        assert b"\r" not in copy


def test_multipart_alternative_is_wrapped_with_the_footer():
    alternative = (
        "--b1\nContent-Type: text/plain; charset=utf-8\n\nHello.\n"
        "--b1\nContent-Type: text/html; charset=utf-8\n\n<p>Hello.</p>\n--b1--\n"
    )
    raw = post(
        extra=("MIME-Version: 1.0", 'Content-Type: multipart/alternative; boundary="b1"'),
        body=alternative,
    )
    copy = copy_of(raw, footer=FOOTER)
    msg = parsed(copy)
    assert msg.get_content_type() == "multipart/mixed"
    assert len(msg.get_all("MIME-Version")) == 1
    first, footer = msg.iter_parts()
    assert first.get_content_type() == "multipart/alternative"
    assert [text_of(p) for p in first.iter_parts()] == ["Hello.", "<p>Hello.</p>"]
    assert text_of(footer) == f"{FOOTER_SEPARATOR}\n{FOOTER}\n"
    assert alternative.replace("\n", "\r\n").encode() in copy


def test_html_post_is_wrapped_with_its_content_headers_moved():
    raw = post(
        extra=(
            "Content-Type: text/html; charset=iso-8859-1",
            "Content-Transfer-Encoding: quoted-printable",
            "X-Kept: on top",
        ),
        body="<p>caf=E9</p>\n",
    )
    msg = parsed(copy_of(raw, footer=FOOTER))
    assert msg["X-Kept"] == "on top" and msg["Content-Transfer-Encoding"] is None
    html, footer = msg.iter_parts()
    assert html.get_content_type() == "text/html"
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert text_of(html) == "<p>café</p>\n"
    assert footer.get_content().startswith(FOOTER_SEPARATOR)


def test_text_attachment_is_wrapped_not_appended_to():
    raw = post(
        extra=("Content-Type: text/plain", "Content-Disposition: attachment; filename=a.txt"),
        body="file contents\n",
    )
    first, _ = parsed(copy_of(raw, footer=FOOTER)).iter_parts()
    assert first.get_filename() == "a.txt" and text_of(first) == "file contents\n"


def test_text_that_does_not_decode_as_declared_is_wrapped_intact():
    raw = post(extra=("Content-Type: text/plain; charset=us-ascii",), body=b"caf\xe9\r\n")
    copy = copy_of(raw, footer=FOOTER)
    msg = parsed(copy)
    assert msg.get_content_type() == "multipart/mixed"
    assert msg["Content-Transfer-Encoding"] == "8bit"
    assert b"\r\n\r\ncaf\xe9\r\n\r\n--" in copy


def test_multipart_mixed_that_never_closes_is_left_without_footer():
    raw = post(
        extra=('Content-Type: multipart/mixed; boundary="b1"',),
        body="--b1\nContent-Type: text/plain\n\ntruncated here\n",
    )
    assert copy_of(raw, footer=FOOTER).endswith(raw)


def test_wrapped_message_with_a_footer_keeps_the_inner_message():
    raw = post()
    msg = parsed(copy_of(raw, mitigation=Mitigation.wrap, footer=FOOTER))
    inner, footer = msg.iter_parts()
    assert inner.get_content_type() == "message/rfc822"
    assert inner.get_content()["From"] == "Alice Liddell <alice@example.com>"
    assert footer.get_content().startswith(FOOTER_SEPARATOR)


# -- DMARC: munging From ---------------------------------------------------------------


def test_munged_from_keeps_author_in_reply_to():
    raw = post()
    copy = copy_of(raw, mitigation=Mitigation.munge_from)
    msg = parsed(copy)
    assert msg["From"].addresses[0].display_name == "Alice Liddell via dev"
    assert msg["From"].addresses[0].addr_spec == "dev@lists.example.org"
    assert msg["Reply-To"] == "Alice Liddell <alice@example.com>"
    assert b'From: "Alice Liddell via dev" <dev@lists.example.org>\r\n' in copy
    assert msg["Cc"] is None


def test_munge_changes_only_the_from_reply_to_and_cc_lines():
    raw = post(extra=("Cc: bob@example.com", "X-Tail: 1"))
    copy = copy_of(raw, mitigation=Mitigation.munge_from)
    before = [line for line in header_lines(raw) if not line.startswith(b"From:")]
    after = header_lines(copy)[8:]
    assert [line for line in after if not line.startswith((b"From:", b"Reply-To:"))] == before
    assert copy.endswith(b"\r\n\r\nHello, list.\r\n")


def test_munged_from_without_display_name_uses_the_local_part():
    raw = message("From: alice@example.com", "Subject: x")
    from_ = parsed(copy_of(raw, mitigation=Mitigation.munge_from))["From"]
    assert from_.addresses[0].display_name == "alice via dev"


def test_munged_from_encodes_non_ascii_names():
    raw = message("From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jm@example.de>", "Subject: x")
    copy = copy_of(raw, mitigation=Mitigation.munge_from)
    from_line = next(line for line in header_lines(copy) if line.startswith(b"From:"))
    assert from_line.isascii()
    assert parsed(copy)["From"].addresses[0].display_name == "Jörg Müller via dev"
    assert parsed(copy)["Reply-To"].addresses[0].display_name == "Jörg Müller"


def test_munged_from_with_own_reply_to_puts_author_in_cc():
    raw = post(extra=("Reply-To: team@example.com", "Cc: bob@example.com"))
    msg = parsed(copy_of(raw, mitigation=Mitigation.munge_from))
    assert msg["Reply-To"] == "team@example.com"
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["bob@example.com", "alice@example.com"]


def test_munged_from_with_own_reply_to_and_no_cc_adds_cc():
    raw = post(extra=("Reply-To: team@example.com",))
    msg = parsed(copy_of(raw, mitigation=Mitigation.munge_from))
    assert msg["Cc"] == "Alice Liddell <alice@example.com>"


def test_munged_from_does_not_repeat_an_author_already_in_cc():
    raw = post(extra=("Reply-To: team@example.com", "Cc: ALICE@example.com,\r\n bob@x.org"))
    copy = copy_of(raw, mitigation=Mitigation.munge_from)
    assert b"Cc: ALICE@example.com,\r\n bob@x.org\r\n" in copy
    assert len(parsed(copy)["Cc"].addresses) == 2


def test_munge_without_from_changes_no_header():
    raw = message("Subject: x", "To: dev@lists.example.org")
    assert copy_of(raw, mitigation=Mitigation.munge_from).endswith(raw)


# -- DMARC: wrapping -------------------------------------------------------------------


def test_wrapped_post_is_intact_inside_a_message_from_the_list():
    raw = post(
        extra=("Cc: bob@example.com", "In-Reply-To: <0@example.com>", "X-Inner: only"),
    )
    copy = copy_of(raw, mitigation=Mitigation.wrap, subject_prefix="dev")
    assert copy.endswith(b"\r\n\r\n" + raw)
    msg = parsed(copy)
    assert msg.get_content_type() == "message/rfc822"
    assert msg["Content-Disposition"] == "inline" and msg["MIME-Version"] == "1.0"
    assert msg["From"].addresses[0].display_name == "Alice Liddell via dev"
    assert msg["Reply-To"] == "Alice Liddell <alice@example.com>"
    assert msg["Subject"] == "[dev] hello"
    assert msg["Cc"] == "bob@example.com" and msg["In-Reply-To"] == "<0@example.com>"
    assert msg["Message-ID"] == "<123@example.com>" and msg["X-Inner"] is None
    inner = msg.get_content()
    assert inner["From"] == "Alice Liddell <alice@example.com>"
    assert inner["Subject"] == "hello" and inner["X-Inner"] == "only"
    assert text_of(inner) == "Hello, list.\n"


def test_wrapped_post_replies_go_to_its_own_reply_to():
    raw = post(extra=("Reply-To: team@example.com",))
    assert parsed(copy_of(raw, mitigation=Mitigation.wrap))["Reply-To"] == "team@example.com"


def test_author_dkim_signature_verifies_on_the_wrapped_post(rsa_key, publish):
    publish("example.com")
    raw = sign(post(extra=("Return-Path: <alice@example.com>",)), "example.com", rsa_key[0])
    copy = copy_of(raw, mitigation=Mitigation.wrap, footer=FOOTER, subject_prefix="dev")
    delimiter = b"--" + parsed(copy).get_boundary().encode()
    first_part = copy.split(delimiter)[1]
    inner = first_part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
    assert dkimpy.verify(inner, dnsfunc=dkim_dnsfunc)
    assert parsed(inner)["Return-Path"] == "<alice@example.com>"


def test_wrapped_8bit_post_is_declared_8bit():
    raw = message("From: Jörg <j@example.de>", "Subject: Grüße", body="Grüße\n")
    msg = parsed(copy_of(raw, mitigation=Mitigation.wrap))
    assert msg["Content-Transfer-Encoding"] == "8bit"
    assert msg.get_content()["Subject"] == "Grüße"


# -- malformed posts -------------------------------------------------------------------

MALFORMED = [
    b"",
    b"\r\n",
    b"no header block at all, just a line",
    bytes(range(256)) * 4,
    b"From: \xff\xfe\r\nSubject: \xc3\r\n\r\n\xff body",
    b"From:\r\nSubject:\r\n\r\n",
    b"From: <<<@@@>>>\r\nReply-To: ;;;\r\nCc: ,,,\r\n\r\nbody",
    b"Subject: =?x-unknown?q?=FF?= =?utf-8?b?broken\r\n\r\nbody",
    b" starts with a continuation\r\nFrom: a@b\r\n\r\nbody",
    b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\nSubject: mbox\n\nbody\n",
    b"Content-Type: multipart/mixed\r\n\r\nno boundary",
    b"Content-Type: multipart/mixed; boundary=\xff\r\n\r\n--\xff\r\n\r\nx\r\n--\xff--\r\n",
    b"Content-Type: text/plain; charset=utf-16\r\n\r\n\xff\xfeh\x00i\x00",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notb64=",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin",
    b"Content-Type: ;;;\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=",
    b"From: a@b\r\nSubject: headers only, no final line end",
]


@pytest.mark.parametrize("raw", MALFORMED)
@pytest.mark.parametrize("mitigation", list(Mitigation))
def test_malformed_post_still_gets_a_copy(raw, mitigation):
    copy = copy_of(raw, mitigation=mitigation, subject_prefix="dev", footer=FOOTER)
    copy = add_unsubscribe_headers(copy, DEV, one_click_url="https://u/1")
    msg = parsed(copy)
    assert msg["List-Id"] == '"Development" <dev.lists.example.org>'
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_headers_only_post_is_kept_as_it_ended():
    raw = b"From: a@b\r\nSubject: x"
    assert copy_of(raw).endswith(b"Precedence: list\r\n" + raw)


def test_list_identity_names_the_list_addresses():
    assert DEV.posting_address == "dev@lists.example.org"
    assert DEV.bounces_address == "dev+bounces@lists.example.org"
    assert DEV.list_id == "dev.lists.example.org"
    assert DEV.archive_url == "https://lists.example.org/dev/"
    assert DEV.command_address("help") == "dev+help@lists.example.org"


def test_line_that_is_no_header_does_not_hide_the_content_type():
    raw = (
        b"From alice@example.com Mon Jan  1 00:00:00 2024\n"
        b'Content-Type: multipart/mixed; boundary="b1"\n\n' + MIXED.encode()
    )
    parts = list(parsed(copy_of(raw, footer=FOOTER).split(b"\n", 9)[-1]).iter_parts())
    assert len(parts) == 3 and text_of(parts[2]).startswith(FOOTER_SEPARATOR)
