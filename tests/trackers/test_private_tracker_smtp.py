"""A private tracker does not exist over SMTP for those who may not see it, as a private
list does not: every address of it (reports, tickets, following) is refused at RCPT with
the very words a tracker that was never made gets, ticket numbers cannot be counted, and
mail that gets past RCPT with a member's envelope but a stranger's From is refused at
DATA the same way, with no answer naming the tracker. The positive controls: a public
tracker's addresses, and the members' own, are answered."""

from __future__ import annotations

import smtplib

import pytest

from accounts.groups import create_group, set_member
from accounts.models import GroupRole
from tests.accounts.helpers import make_user
from tests.intake import sign
from tests.messages import make_message
from trackers.access import set_access, set_owner_group, set_visibility
from trackers.tickets import Origin, create_tracker, get_tracker, open_ticket

DOMAIN = "lists.example.org"
EVE = "eve@example.net"  # a stranger
MAX = "max@member.example"  # a member of ~acme, which owns privbugs


@pytest.fixture
def trackers(session):
    ora = make_user(session, "ora", "ora@example.com")
    max_ = make_user(session, "max", MAX)
    acme = create_group(session, "acme", ora)
    set_member(session, acme, max_, GroupRole.member)
    private = create_tracker(session, "privbugs", "owner@example.org", "Private")
    set_visibility(private, "private")
    set_owner_group(private, acme)
    public = create_tracker(session, "bugs", "owner@example.org", "Public")
    session.commit()
    for tracker in (private, public):
        open_ticket(
            session, tracker, "First", "Text.\n", Origin("ora@example.com", authenticated="web")
        )
    session.commit()
    return {"private": private, "public": public}


@pytest.fixture
def server(start_servers, relay_settings, trackers):
    return start_servers(relay_url=relay_settings.relay_url)


def rcpt(server, to: str, sender: str) -> tuple[int, bytes]:
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.ehlo()
        client.mail(sender)
        return client.rcpt(to)


LOCALS = ("{}", "{}+1", "{}+2", "{}+subscribe", "{}+1+unsubscribe", "{}+confirm-subscribe")


def test_a_private_tracker_answers_a_stranger_as_a_missing_tracker_does(server):
    unknown = rcpt(server, f"nosuch@{DOMAIN}", EVE)
    assert unknown[0] == 550
    for pattern in LOCALS:
        local = pattern.format("privbugs")
        code, text = rcpt(server, f"{local}@{DOMAIN}", EVE)
        assert (code, text.replace(local.encode(), b"nosuch")) == unknown, local
    assert rcpt(server, f"privbugs@{DOMAIN}", "")[0] == 550  # the null sender too


def test_a_public_tracker_and_a_member_are_answered(server):
    """The positive control: the same addresses are known where they may be."""
    for name, sender in (("bugs", EVE), ("privbugs", MAX)):
        assert rcpt(server, f"{name}@{DOMAIN}", sender)[0] == 250
        assert rcpt(server, f"{name}+1@{DOMAIN}", sender)[0] == 250
        code, text = rcpt(server, f"{name}+2@{DOMAIN}", sender)
        assert code == 550 and f"{name} has no ticket 2".encode() in text


def test_a_strangers_from_behind_a_members_envelope_is_refused_as_unknown(server, session, sink):
    for local in ("privbugs", "privbugs+1", "privbugs+subscribe"):
        mail = make_message(from_=EVE, to=f"{local}@{DOMAIN}", subject="Hello")
        with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail(MAX, [f"{local}@{DOMAIN}"], mail)
        assert refused.value.smtp_code == 550
        text = refused.value.smtp_error.decode()
        assert text == f"5.1.1 <{local}@{DOMAIN}>: no such list here (lists are at NAME@{DOMAIN})"
    assert sink.received == []  # nothing that names the tracker went to anyone
    session.expire_all()
    assert get_tracker(session, "privbugs").last_number == 1


def test_someone_with_an_entry_is_no_stranger(server, session, trackers, sink):
    """An address entry that lets a finder report without reading: they know of it."""
    set_access(session, trackers["private"], "submit", address=EVE)
    session.commit()
    assert rcpt(server, f"privbugs@{DOMAIN}", EVE)[0] == 250


def test_a_forged_owner_from_does_not_open_a_ticket_but_a_proven_one_does(
    server, session, sink, publish, rsa_key
):
    """Unauthenticated mail is the bare address, never the owner (`accounts.access`)."""
    owner = "owner@example.org"
    forged = make_message(from_=owner, to=f"privbugs@{DOMAIN}", subject="Forged")
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(owner, [f"privbugs@{DOMAIN}"], forged)
    assert "not authenticated" in " ".join(refused.value.smtp_error.decode().split())
    publish("example.org")
    proven = sign(make_message(from_=owner, to=f"privbugs@{DOMAIN}"), "example.org", rsa_key[0])
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.sendmail(owner, [f"privbugs@{DOMAIN}"], proven)
    session.expire_all()
    assert get_tracker(session, "privbugs").last_number == 2
