"""Tracker rights by mail, over real SMTP: who may open tickets, comment, use `!title`
and the triage commands, and follow, as accounts, addresses and group roles make them;
and notifications only to those who may read the tracker."""

from __future__ import annotations

import smtplib
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import select

from accounts.groups import create_group, set_member
from accounts.models import GroupRole
from archive.parse import parse_message
from mail.policy import Outcome, Reason
from tests.accounts.helpers import make_user
from tests.intake import sign
from tests.messages import make_message
from trackers.access import set_access, set_default_rights, set_owner_group, set_visibility
from trackers.commands import Status
from trackers.mail import TrackerTarget, judge_tracker_rights
from trackers.models import EventKind, TicketEvent, TicketSubscriber
from trackers.tickets import Origin, create_tracker, get_ticket, get_tracker, open_ticket

DOMAIN = "lists.example.org"
SEC = f"sec@{DOMAIN}"
OWNER = "owner@example.org"


@pytest.fixture
def people(session):
    """~mia (maintainer of ~acme, writing from her second address mia@maint.example),
    ~max (member of ~acme, at member.example), ~ora (owner of ~acme)."""
    ora = make_user(session, "ora", "ora@example.com")
    mia = make_user(session, "mia", "mia@example.com", "mia@maint.example")
    max_ = make_user(session, "max", "max@member.example")
    acme = create_group(session, "acme", ora)
    set_member(session, acme, mia, GroupRole.maintainer)
    set_member(session, acme, max_, GroupRole.member)
    session.commit()
    return {"ora": ora, "mia": mia, "max": max_, "acme": acme}


@pytest.fixture
def sec(session, people):
    """`sec`: a private tracker of ~acme."""
    tracker = create_tracker(session, "sec", OWNER, "Security reports")
    set_visibility(tracker, "private")
    set_owner_group(tracker, people["acme"])
    session.commit()
    return tracker


@pytest.fixture
def server(start_servers, relay_settings, sec):
    return start_servers(relay_url=relay_settings.relay_url)


def send(server, raw: bytes, to: str, mail_from: str) -> None:
    with smtplib.SMTP(*server.smtp_address) as client:
        client.sendmail(mail_from, [to], raw)


def signed(raw: bytes, domain: str, rsa_key) -> bytes:
    return sign(raw, domain, rsa_key[0])


def reply_to(sink, address: str) -> str:
    """The text of the last mail the tracker sent to `address`."""
    mails = [r for r in sink.received if r.rcpt_tos == [address]]
    assert mails, f"nothing was sent to {address}"
    return message_from_bytes(mails[-1].content, policy=default).get_content()


def refused_or_answered(server, sink, raw: bytes, to: str, sender: str) -> str:
    """The reason a report was refused: in the SMTP reply when intake asks
    `judge_tracker_rights` at DATA, else in the reply mail `handle_tracker_mail` sends."""
    try:
        send(server, raw, to, sender)
    except smtplib.SMTPDataError as refused:
        assert refused.smtp_code == 550
        return refused.smtp_error.decode()
    return reply_to(sink, sender)


def tickets(session) -> int:
    session.expire_all()
    return get_tracker(session, "sec").last_number


def report(sender: str, subject: str = "Overflow in parser", body: str = "Details.\r\n") -> bytes:
    return make_message(from_=sender, to=SEC, subject=subject, body=body)


# -- submit ---------------------------------------------------------------------------------


def test_a_stranger_cannot_open_a_ticket_on_a_private_tracker_that_is_unknown_to_them(
    server, session, sink
):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(server, report("eve@example.net"), SEC, "eve@example.net")
    [(code, text)] = refused.value.recipients.values()
    assert code == 550 and b"no such list here" in text
    assert tickets(session) == 0 and sink.received == []


def test_a_reader_without_submit_cannot_open_a_ticket_and_hears_why(server, session, sink, sec):
    set_access(session, sec, "browse", address="eve@example.net")
    session.commit()
    reason = refused_or_answered(server, sink, report("eve@example.net"), SEC, "eve@example.net")
    assert "eve@example.net may not open tickets on sec" in " ".join(reason.split())
    assert tickets(session) == 0


def test_a_group_member_opens_a_ticket_with_authenticated_mail(
    server, session, sink, people, publish, rsa_key
):
    publish("member.example")
    send(
        server,
        signed(report("Max <max@member.example>"), "member.example", rsa_key),
        SEC,
        "max@member.example",
    )
    assert tickets(session) == 1
    ticket = get_ticket(session, get_tracker(session, "sec").id, 1)
    assert ticket.submitter == "max@member.example"


def test_unauthenticated_mail_does_not_count_as_the_members_account(server, session, sink):
    reason = refused_or_answered(
        server, sink, report("max@member.example"), SEC, "max@member.example"
    )
    flat = " ".join(reason.split())
    assert "may not open tickets on sec" in flat and "not authenticated" in flat
    assert "~max" in flat
    assert tickets(session) == 0


def test_an_address_entry_lets_a_reporter_submit_without_reading(server, session, sink, sec):
    set_access(session, sec, "submit", address="finder@example.net")
    session.commit()
    send(server, report("finder@example.net"), SEC, "finder@example.net")
    assert tickets(session) == 1


def test_default_rights_without_submit_refuse_reports_on_a_public_tracker(
    server, session, sink, sec
):
    set_visibility(sec, "public")
    set_default_rights(sec, "browse,comment")
    session.commit()
    reason = refused_or_answered(server, sink, report("eve@example.net"), SEC, "eve@example.net")
    assert "may not open tickets" in reason
    assert tickets(session) == 0


def test_judge_tracker_rights_refuses_at_data_with_not_allowed(session, sec, settings):
    target = TrackerTarget(sec.id, "sec", DOMAIN, None)
    raw = report("eve@example.net")
    decision = judge_tracker_rights(session, settings, parse_message(raw), raw, target)
    # a stranger to the private tracker: as if it did not exist
    assert decision.outcome is Outcome.REJECT and decision.reason is Reason.UNKNOWN_RECIPIENT
    set_access(session, sec, "browse", address="eve@example.net")
    decision = judge_tracker_rights(session, settings, parse_message(raw), raw, target)
    assert decision.outcome is Outcome.REJECT and decision.reason is Reason.NOT_ALLOWED
    assert "eve@example.net may not open tickets on sec" in decision.detail
    set_access(session, sec, "submit", address="eve@example.net")
    assert judge_tracker_rights(session, settings, parse_message(raw), raw, target).accepted
    comment = TrackerTarget(sec.id, "sec", DOMAIN, 1)
    assert judge_tracker_rights(session, settings, parse_message(raw), raw, comment).accepted


# -- comment and triage ---------------------------------------------------------------------


@pytest.fixture
def first(session, sec):
    ticket = open_ticket(
        session, sec, "Overflow", "Details.\n", Origin("ora@example.com", authenticated="web")
    )
    session.commit()
    return ticket


def test_a_comment_from_someone_without_comment_is_not_posted_and_answered(
    server, session, sink, sec, first
):
    set_access(session, sec, "submit", address="eve@example.net")
    session.commit()
    mail = make_message(
        from_="eve@example.net", to=f"sec+1@{DOMAIN}", subject="Re: Overflow", body="Me too.\r\n"
    )
    send(server, mail, f"sec+1@{DOMAIN}", "eve@example.net")
    session.expire_all()
    kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == first.id))
    assert list(kinds) == [EventKind.opened]
    text = " ".join(reply_to(sink, "eve@example.net").split())
    assert "was not posted" in text and "eve@example.net may not comment on sec" in text
    assert "/sec/tickets/1/" not in text  # no link to what they may not read


def test_a_group_maintainer_triages_from_a_second_confirmed_address(
    server, session, sink, first, publish, rsa_key
):
    publish("maint.example")
    mail = make_message(
        from_="Mia <mia@maint.example>",
        to=f"sec+1@{DOMAIN}",
        subject="Re: Overflow",
        body="Confirmed.\r\n!status confirmed\r\n!label security\r\n",
    )
    send(server, signed(mail, "maint.example", rsa_key), f"sec+1@{DOMAIN}", "mia@maint.example")
    ticket = get_ticket(session, first.tracker_id, 1)
    session.refresh(ticket)
    assert ticket.status is Status.confirmed and ticket.labels == ["security"]


def test_a_group_member_may_comment_but_not_triage(server, session, sink, first, publish, rsa_key):
    publish("member.example")
    mail = make_message(
        from_="max@member.example",
        to=f"sec+1@{DOMAIN}",
        subject="Re: Overflow",
        body="Seen here too.\r\n!resolve fixed\r\n",
    )
    send(server, signed(mail, "member.example", rsa_key), f"sec+1@{DOMAIN}", "max@member.example")
    ticket = get_ticket(session, first.tracker_id, 1)
    session.refresh(ticket)
    assert ticket.status is Status.reported
    comments = session.scalars(
        select(TicketEvent.text).where(TicketEvent.kind == EventKind.comment)
    ).all()
    assert comments == ["Seen here too."]
    assert "may not triage sec" in reply_to(sink, "max@member.example")


def test_the_edit_right_allows_title_but_not_other_commands(
    server, session, sink, sec, first, publish, rsa_key
):
    set_access(session, sec, "browse,comment,edit", address="ed@edit.example")
    session.commit()
    publish("edit.example")
    mail = make_message(
        from_="ed@edit.example",
        to=f"sec+1@{DOMAIN}",
        subject="Re: Overflow",
        body="!title Heap overflow in the parser\r\n!status confirmed\r\n",
    )
    send(server, signed(mail, "edit.example", rsa_key), f"sec+1@{DOMAIN}", "ed@edit.example")
    ticket = get_ticket(session, first.tracker_id, 1)
    session.refresh(ticket)
    assert ticket.title == "Heap overflow in the parser" and ticket.status is Status.reported
    assert "may not triage sec" in reply_to(sink, "ed@edit.example")


# -- reading ---------------------------------------------------------------------------------


def test_notifications_go_only_to_those_who_may_read_the_tracker(
    server, session, sink, sec, first, publish, rsa_key
):
    for address in ("outsider@example.net", "max@member.example"):
        session.add(TicketSubscriber(tracker_id=sec.id, ticket_id=None, address=address))
    session.commit()
    publish("maint.example")
    mail = make_message(
        from_="mia@maint.example", to=f"sec+1@{DOMAIN}", subject="Re: x", body="Patched.\r\n"
    )
    send(server, signed(mail, "maint.example", rsa_key), f"sec+1@{DOMAIN}", "mia@maint.example")
    notified = {a for r in sink.received for a in r.rcpt_tos}
    assert "max@member.example" in notified and "ora@example.com" in notified
    assert "outsider@example.net" not in notified


def test_following_a_private_tracker_needs_the_browse_right(server, session, sink, sec):
    set_access(session, sec, "submit", address="eve@example.net")
    session.commit()
    address = f"sec+subscribe@{DOMAIN}"
    send(server, make_message(from_="eve@example.net", to=address), address, "eve@example.net")
    [answer] = sink.received
    assert (
        message_from_bytes(answer.content, policy=default)["Subject"]
        == "Not following every ticket of sec"
    )
    assert "may not read sec" in reply_to(sink, "eve@example.net")
    sink.received.clear()
    send(
        server,
        make_message(from_="max@member.example", to=address),
        address,
        "max@member.example",
    )
    asked = message_from_bytes(sink.received[-1].content, policy=default)
    assert asked["Subject"].startswith("confirm ")
