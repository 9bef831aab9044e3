"""SMTP intake end to end: a real server on a free port, smtplib as the client."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import select, text

from archive.models import Message, MessageStatus
from archive.queries import answers_to
from core.db import get_engine
from tests.messages import (
    ANNOUNCE,
    DEV,
    alternative,
    html_only,
    list_ids_of,
    make_message,
    msgid_of,
    new_msgid,
    raw_of,
    send,
    smtp_client,
    stored,
)


def test_ehlo_names_the_list_domain_and_offers_8bitmime_smtputf8_and_size(intake):
    with smtp_client(intake.smtp_address) as client:
        code, banner = client.ehlo("client.example.com")
    assert code == 250
    assert banner.splitlines()[0] == b"lists.example.org"
    for extension in ("8bitmime", "smtputf8", "size"):
        assert client.has_extn(extension)
    assert client.esmtp_features["size"] == str(10 * 1024 * 1024)


def test_post_to_a_list_is_stored_and_ingested(intake, session, lists):
    raw = make_message()
    assert send(intake.smtp_address, raw) == {}
    [message] = stored(session, msgid_of(raw))
    assert list_ids_of(session, message.id) == {lists["dev"]}
    assert message.envelope_from == "alice@example.com"
    assert message.envelope_to == [DEV]
    # tasks run eagerly in tests: ingest ran before the answer.
    assert message.status is MessageStatus.archived
    assert message.subject == "hello"


def test_unknown_recipient_is_refused_at_rcpt_with_550_5_1_1(intake):
    with smtp_client(intake.smtp_address) as client:
        client.ehlo()
        client.mail("alice@example.com")
        code, reply = client.rcpt("nosuchlist@lists.example.org")
        assert code == 550
        assert reply.startswith(b"5.1.1 <nosuchlist@lists.example.org>: no such list here")
        code, reply = client.rcpt("dev@elsewhere.example.com")
        assert code == 550
        assert b"5.7.1" in reply and b"@lists.example.org" in reply and b"submission" in reply
        code, _ = client.rcpt(DEV)
        assert code == 250


def test_posting_address_is_case_insensitive(intake, session, lists):
    raw = make_message(to="DEV@Lists.Example.ORG")
    send(intake.smtp_address, raw, to=("DEV@Lists.Example.ORG",))
    [message] = stored(session, msgid_of(raw))
    assert list_ids_of(session, message.id) == {lists["dev"]}


def test_message_over_the_size_limit_gets_552_5_3_4(start_servers, session):
    servers = start_servers(max_message_size=4096)
    big = make_message(body="x" * 70 + "\r\n" + ("y" * 78 + "\r\n") * 100)
    # smtplib announces SIZE= at MAIL FROM: refused there.
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(servers.smtp_address, big)
    assert refused.value.smtp_code == 552
    assert refused.value.smtp_error.startswith(b"5.3.4")
    # Without SIZE=, refused at the end of DATA.
    with smtp_client(servers.smtp_address) as client:
        client.ehlo()
        assert client.mail("alice@example.com")[0] == 250
        assert client.rcpt(DEV)[0] == 250
        code, reply = client.data(big)
    assert code == 552
    assert reply.startswith(b"5.3.4")
    assert stored(session, msgid_of(big)) == []


@pytest.mark.parametrize(
    ("missing", "changes"),
    [
        ("From", {"from_": None}),
        ("Subject", {"subject": None}),
        ("Message-ID", {"message_id": None}),
    ],
)
def test_message_without_a_required_header_gets_550_5_6_0(intake, missing, changes):
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(intake.smtp_address, make_message(**changes))
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.6.0")
    assert missing.encode() in refused.value.smtp_error


@pytest.mark.parametrize("build", [html_only, alternative], ids=["html-only", "alternative"])
def test_html_mail_gets_550_5_7_1_pointing_to_useplaintext(intake, session, build):
    raw = build()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(intake.smtp_address, raw)
    assert refused.value.smtp_code == 550
    lines = refused.value.smtp_error.splitlines()
    assert lines[0].startswith(b"5.7.1") and b"HTML" in lines[0]
    assert b"https://useplaintext.email/" in lines[-1]
    assert stored(session, msgid_of(raw)) == []


def test_mail_without_a_text_plain_part_is_refused(intake):
    raw = make_message(content_type="application/octet-stream", body="AAAA\r\n")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(intake.smtp_address, raw)
    assert refused.value.smtp_code == 550
    assert b"useplaintext.email" in refused.value.smtp_error


def test_list_that_allows_html_takes_it(intake, session, lists):
    raw = html_only(to=ANNOUNCE)
    send(intake.smtp_address, raw, to=(ANNOUNCE,))
    [message] = stored(session, msgid_of(raw))
    assert list_ids_of(session, message.id) == {lists["announce"]}


def test_mail_that_does_not_name_the_list_in_to_or_cc_is_refused(intake, session):
    raw = make_message(to="bob@example.com")  # the list was Bcc'd
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(intake.smtp_address, raw)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1")
    assert DEV.encode() in refused.value.smtp_error
    cc = make_message(to="bob@example.com", cc=f"The list <{DEV.upper()}>")
    send(intake.smtp_address, cc)
    assert len(stored(session, msgid_of(cc))) == 1


@pytest.mark.parametrize("value", ["auto-replied", "auto-generated; owner=x@example.com"])
def test_auto_submitted_mail_is_accepted_and_dropped(intake, session, value):
    raw = make_message(subject=None, extra=(f"Auto-Submitted: {value}",))  # not refused
    assert send(intake.smtp_address, raw) == {}
    assert stored(session, msgid_of(raw)) == []


def test_auto_submitted_no_is_a_person(intake, session):
    raw = make_message(extra=("Auto-Submitted: no",))
    send(intake.smtp_address, raw)
    assert len(stored(session, msgid_of(raw))) == 1


def test_mail_carrying_the_lists_own_list_id_is_dropped_as_a_loop(intake, session):
    loop = make_message(extra=("List-Id: Dev list <dev.LISTS.example.org>",))
    assert send(intake.smtp_address, loop) == {}
    assert stored(session, msgid_of(loop)) == []
    other = make_message(extra=("List-Id: <dev.lists.other.example.com>",))
    send(intake.smtp_address, other)
    assert len(stored(session, msgid_of(other))) == 1


def test_a_retried_delivery_is_accepted_and_stored_once(intake, session):
    raw = make_message()
    assert send(intake.smtp_address, raw) == {}
    assert send(intake.smtp_address, raw) == {}
    assert send(intake.smtp_address, b"Received: from relay.example\r\n" + raw) == {}
    [message] = stored(session, msgid_of(raw))
    assert raw_of(session, message.id) == raw


def test_a_different_message_reusing_a_message_id_is_kept_and_its_retry_dropped(intake, session):
    raw = make_message()
    other = raw.replace(b"Hello", b"Hullo")
    for copy in (raw, other, other):
        assert send(intake.smtp_address, copy) == {}
    session.expire_all()
    kept = session.scalars(
        select(Message).where(answers_to(msgid_of(raw))).order_by(Message.id)
    ).all()
    assert [raw_of(session, m.id) for m in kept] == [raw, other]


def test_cross_post_is_stored_once_and_linked_to_both_lists(intake, session, lists):
    raw = make_message(cc=ANNOUNCE)
    send(intake.smtp_address, raw, to=(DEV, ANNOUNCE))
    [message] = stored(session, msgid_of(raw))
    assert list_ids_of(session, message.id) == {lists["dev"], lists["announce"]}
    assert message.envelope_to == [DEV, ANNOUNCE]


def test_cross_post_refused_by_one_list_is_refused_whole(intake, session):
    raw = html_only(cc=ANNOUNCE)  # announce takes HTML, dev does not
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(intake.smtp_address, raw, to=(ANNOUNCE, DEV))
    assert refused.value.smtp_code == 550
    assert stored(session, msgid_of(raw)) == []


def test_raw_bytes_are_stored_exactly_including_8bit_utf8(intake, session):
    msgid = f"ünïcode-{new_msgid()}"
    raw = make_message(
        subject="Grüße aus Köln ✓",
        from_="Jürgen <jürgen@example.com>",
        message_id=msgid,
        body=(
            "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.\r\n"
            ".a line that starts with a dot\r\n"
            "..and one with two\r\n"
            "trailing spaces   \r\n"
            "\r\n"
        ),
    )
    send(intake.smtp_address, raw, mail_options=("SMTPUTF8", "BODY=8BITMIME"))
    [message] = stored(session, msgid)
    assert raw_of(session, message.id) == raw
    assert message.size == len(raw)


def test_database_failure_answers_451_and_the_retry_is_stored(intake, settings, session):
    raw = make_message()
    session.close()
    engine = get_engine(settings)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE messages RENAME TO messages_away"))
    try:
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            send(intake.smtp_address, raw)
        assert deferred.value.smtp_code == 451
        assert deferred.value.smtp_error.startswith(b"4.3.0")
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE messages_away RENAME TO messages"))
    assert send(intake.smtp_address, raw) == {}
    assert len(stored(session, msgid_of(raw))) == 1


def test_too_many_recipients_get_452(intake):
    with smtp_client(intake.smtp_address) as client:
        client.ehlo()
        client.mail("alice@example.com")
        codes = [client.rcpt(DEV)[0] for _ in range(101)]
    assert codes[:100] == [250] * 100
    assert codes[100] == 452
