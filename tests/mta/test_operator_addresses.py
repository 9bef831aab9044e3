"""postmaster@ (RFC 5321) and abuse@ (RFC 2142) over real SMTP: taken and forwarded,
unchanged, to the operator's address, else to the admins; refused only when nobody
would read them."""

from __future__ import annotations

import smtplib

import pytest

from accounts.users import create_user
from tests.messages import make_message, msgid_of

OPERATOR = "ops@example.net"


@pytest.fixture
def operator_intake(start_servers, relay_settings):
    return start_servers(relay_url=relay_settings.relay_url, operator_address=OPERATOR)


@pytest.mark.parametrize(
    "address", ["postmaster@lists.example.org", "Abuse@Lists.Example.Org", "Postmaster"]
)
def test_postmaster_and_abuse_are_forwarded_to_the_operator(operator_intake, sink, address):
    raw = make_message(to=address, subject="your server")
    with smtplib.SMTP(*operator_intake.smtp_address, timeout=10) as smtp:
        assert smtp.sendmail("someone@example.com", [address], raw) == {}
    [forward] = sink.received
    assert forward.rcpt_tos == [OPERATOR]
    assert forward.mail_from == "<>"  # the null sender: a failed forward cannot loop
    assert msgid_of(raw).encode() in forward.content and b"your server" in forward.content


def test_without_the_setting_the_admins_read_postmaster(
    start_servers, relay_settings, session, sink
):
    create_user(session, "ops", "ops@example.org", is_admin=True)
    create_user(session, "ada", "ada@example.org")
    session.commit()
    intake = start_servers(relay_url=relay_settings.relay_url)
    with smtplib.SMTP(*intake.smtp_address, timeout=10) as smtp:
        smtp.sendmail("someone@example.com", ["postmaster@lists.example.org"], make_message())
    assert [r.rcpt_tos for r in sink.received] == [["ops@example.org"]]


def test_with_nobody_to_read_it_postmaster_is_refused_saying_what_to_set(intake, sink):
    with smtplib.SMTP(*intake.smtp_address, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("someone@example.com")
        code, reply = smtp.rcpt("postmaster@lists.example.org")
    assert code == 550 and b"MAILYARD_OPERATOR_ADDRESS" in reply
    assert sink.received == []
