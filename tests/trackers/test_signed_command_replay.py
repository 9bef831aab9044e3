"""A PGP-signed ticket command cannot be replayed, over real SMTP with real gpg: the
signature covers the text, not the address it was sent to, so the signed text must name
its ticket, and the same signed text acts once (`mail.signed_commands`). The positive
controls: a signed `!resolve` naming its ticket resolves it, and a signed report with a
command acts on the ticket it opens."""

from __future__ import annotations

import smtplib
from email import message_from_bytes
from email.policy import default

import pytest

from core.settings import get_settings
from mail.keys import add_pgp_key
from tests.accounts.helpers import pgp_signer
from tests.intake import sign
from tests.messages import make_message
from trackers.commands import Resolution, Status
from trackers.tickets import Origin, create_tracker, get_ticket, get_tracker, grant, open_ticket

DOMAIN = "lists.example.org"
MIA = "mia@maint.example"  # may triage bugs


@pytest.fixture(scope="module")
def mia_key():
    with pgp_signer(MIA) as signer:
        yield signer


@pytest.fixture
def server(start_servers, relay_settings, session, mia_key):
    bugs = create_tracker(session, "bugs", "owner@example.org", "Bugs")
    grant(session, bugs, MIA)
    add_pgp_key(session, MIA, mia_key[0])
    for title in ("One", "Two"):
        open_ticket(
            session, bugs, title, "Text.\n", Origin("rita@example.com", authenticated="web")
        )
    session.commit()
    return start_servers(relay_url=relay_settings.relay_url)


def send(server, block: str, to: str) -> None:
    mail = make_message(from_=f"Mia <{MIA}>", to=to, subject="Re: [bugs]", body=block)
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.sendmail(MIA, [to], mail.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def ticket(session, number: int):
    session.expire_all()
    return get_ticket(session, get_tracker(session, "bugs").id, number)


def answer_to_mia(sink) -> str:
    mails = [r for r in sink.received if r.rcpt_tos == [MIA]]
    assert mails, "Mia got no answer"
    return " ".join(message_from_bytes(mails[-1].content, policy=default).get_content().split())


def test_a_signed_resolve_naming_its_ticket_resolves_it(server, session, mia_key):
    url = f"{get_settings().base_url}/bugs/tickets/1/"
    send(server, mia_key[1](f"Fixed in 2.2.\n!resolve fixed\n\n{url}\n"), f"bugs+1@{DOMAIN}")
    assert ticket(session, 1).resolution is Resolution.fixed


def test_a_signed_resolve_sent_to_another_ticket_changes_nothing(server, session, sink, mia_key):
    block = mia_key[1]("Fixed.\n!resolve fixed\n\nbugs#1\n")
    send(server, block, f"bugs+1@{DOMAIN}")
    assert ticket(session, 1).status is Status.resolved
    # The same signed text, from the archive, to the other ticket's address.
    send(server, block, f"bugs+2@{DOMAIN}")
    assert ticket(session, 2).status is Status.reported
    assert "must name what it acts on in the signed text" in answer_to_mia(sink)


def test_a_signed_command_acts_once(server, session, sink, mia_key):
    block = mia_key[1](f"!resolve fixed\nbugs+1@{DOMAIN}\n")
    send(server, block, f"bugs+1@{DOMAIN}")
    assert ticket(session, 1).status is Status.resolved
    send(server, mia_key[1]("!reopen\nbugs#1\n"), f"bugs+1@{DOMAIN}")
    assert ticket(session, 1).status is not Status.resolved
    send(server, block, f"bugs+1@{DOMAIN}")  # replayed
    assert ticket(session, 1).status is not Status.resolved
    assert "already been used once" in answer_to_mia(sink)


def test_a_signed_command_naming_another_ticket_is_refused(server, session, sink, mia_key):
    send(server, mia_key[1]("!resolve fixed\nbugs#12\n"), f"bugs+1@{DOMAIN}")
    assert ticket(session, 1).status is Status.reported
    assert "/bugs/tickets/1/" in answer_to_mia(sink)  # says what to write


def test_a_signed_report_acts_on_the_ticket_it_opens_once(server, session, sink, mia_key):
    block = mia_key[1]("It crashes.\n!label crash\n")
    send(server, block, f"bugs@{DOMAIN}")
    assert ticket(session, 3).labels == ["crash"]
    send(server, block, f"bugs@{DOMAIN}")  # the same report, replayed
    assert ticket(session, 4).labels == []


def test_a_dkim_signed_command_acts_only_on_the_ticket_its_headers_name(
    server, session, sink, publish, rsa_key
):
    """DKIM signs To and Cc: a signed mail sent elsewhere (here to ticket 1, as well as
    could be a list post) delivered to ticket 2's address does nothing there."""
    publish("maint.example")
    mail = make_message(
        from_=f"Mia <{MIA}>",
        to=f"bugs+1@{DOMAIN}",
        subject="Re: [bugs#1]",
        body="!resolve fixed\r\n",
    )
    signed = sign(mail, "maint.example", rsa_key[0])
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.sendmail(MIA, [f"bugs+2@{DOMAIN}"], signed)
    assert ticket(session, 2).status is Status.reported
    assert f"not addressed to bugs+2@{DOMAIN}" in answer_to_mia(sink)
    # The positive control: the same mail where its headers say.
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.sendmail(MIA, [f"bugs+1@{DOMAIN}"], signed)
    assert ticket(session, 1).status is Status.resolved
