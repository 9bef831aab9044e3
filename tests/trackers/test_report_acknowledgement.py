"""Whoever opens a ticket by mail is told its number, its address on the web and how to
comment, as Debian's bug tracker acknowledges a report: one mail, to the reporter only,
threaded under their report and marked as a robot's reply (RFC 3834). A report that
opens nothing, a comment, and a reporter who may not read the tracker (no link for them)
are the controls."""

from __future__ import annotations

import smtplib
from email import message_from_bytes
from email.policy import default

import pytest

from core.settings import get_settings
from tests.messages import make_message
from trackers.access import set_access, set_visibility
from trackers.tickets import create_tracker, get_tracker, grant

DOMAIN = "lists.example.org"
BUGS = f"bugs@{DOMAIN}"
RITA = "rita@example.com"


@pytest.fixture
def tracker(session):
    bugs = create_tracker(session, "bugs", "owner@example.org", "Bugs of the thing")
    grant(session, bugs, "mia@maint.example")
    session.commit()
    return bugs


@pytest.fixture
def server(start_servers, relay_settings, tracker):
    return start_servers(relay_url=relay_settings.relay_url)


def send(server, raw: bytes, to: str = BUGS, mail_from: str = RITA) -> None:
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.sendmail(mail_from, [to], raw)


def report(**changes) -> bytes:
    fields = dict(
        from_=f"Rita <{RITA}>",
        to=BUGS,
        subject="Crash on empty input",
        message_id="report-1@example.com",
        extra=("References: <earlier@example.com>",),
        body="It crashes.\r\n",
    )
    fields.update(changes)
    return make_message(**fields)


def test_the_reporter_learns_the_ticket_number_its_url_and_how_to_comment(server, session, sink):
    send(server, report())
    [ack] = sink.received
    assert ack.rcpt_tos == [RITA]
    mail = message_from_bytes(ack.content, policy=default)
    assert mail["Subject"] == "bugs#1: Acknowledgement (Crash on empty input)"
    assert mail["In-Reply-To"] == "<report-1@example.com>"
    assert mail["References"].split() == ["<earlier@example.com>", "<report-1@example.com>"]
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["Reply-To"] == f"bugs+1@{DOMAIN}"
    assert mail["List-Id"] == f"<bugs.{DOMAIN}>"
    text = mail.get_content()
    assert "bugs#1" in text
    assert f"{get_settings().base_url}/bugs/tickets/1/" in text
    assert f"bugs+1@{DOMAIN}" in text
    assert "It crashes." not in text  # the number, not the report back


def test_a_comment_is_not_acknowledged(server, session, sink):
    send(server, report())
    sink.received.clear()
    comment = make_message(
        from_=f"Rita <{RITA}>", to=f"bugs+1@{DOMAIN}", subject="Re: x", body="More.\r\n"
    )
    send(server, comment, to=f"bugs+1@{DOMAIN}")
    assert [r for r in sink.received if r.rcpt_tos == [RITA]] == []


def test_a_reporter_who_may_not_read_gets_the_number_but_no_link(server, session, sink, tracker):
    set_visibility(tracker, "private")
    set_access(session, tracker, "submit", address=RITA)
    session.commit()
    send(server, report())
    [ack] = sink.received
    assert ack.rcpt_tos == [RITA]
    text = message_from_bytes(ack.content, policy=default).get_content()
    assert "bugs#1" in text and f"bugs+1@{DOMAIN}" in text
    assert "/bugs/tickets/1/" not in text
    session.expire_all()
    assert get_tracker(session, "bugs").last_number == 1
