"""Tickets by mail over real SMTP: open, comment by replying to the notification, triage
with commands in the middle of a reply, and the notifications a relay sink receives."""

from __future__ import annotations

import re
import smtplib
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import select

from tests.intake import sign
from tests.messages import make_message
from trackers.commands import Resolution, Status
from trackers.models import EventKind, TicketEvent
from trackers.tickets import create_tracker, get_ticket, get_tracker, grant

DOMAIN = "lists.example.org"
BUGS = f"bugs@{DOMAIN}"
REPORTER = "Rita Reporter <rita@example.com>"
MAINTAINER = "mia@maint.example"


@pytest.fixture
def tracker(session):
    bugs = create_tracker(session, "bugs", "owner@example.org", "Bugs of the thing")
    grant(session, bugs, MAINTAINER)
    session.commit()
    return bugs


@pytest.fixture
def server(start_servers, relay_settings, tracker):
    return start_servers(relay_url=relay_settings.relay_url)


def send(server, raw: bytes, to: str, mail_from: str = "rita@example.com") -> None:
    with smtplib.SMTP(*server.smtp_address) as client:
        client.sendmail(mail_from, [to], raw)


def parsed(raw: bytes):
    return message_from_bytes(raw, policy=default)


def ticket(session, number: int = 1):
    session.expire_all()
    return get_ticket(session, get_tracker(session, "bugs").id, number)


def test_a_mail_opens_a_ticket_and_a_reply_to_its_notification_comments(
    server, session, sink, tracker
):
    report = make_message(
        from_=REPORTER,
        to=BUGS,
        subject="Crash on empty input",
        message_id="report-1@example.com",
        body="It crashes.\r\n\r\nTraceback: ...\r\n",
    )
    send(server, report, BUGS)
    first = ticket(session)
    assert first.title == "Crash on empty input" and "It crashes." in first.description
    assert first.submitter == "rita@example.com" and first.status is Status.reported
    assert first.thread_msgid == "report-1@example.com"
    # The reporter is the only follower, and the actor: only the acknowledgement.
    [ack] = sink.received
    assert ack.rcpt_tos == ["rita@example.com"]
    assert parsed(ack.content)["Subject"] == "bugs#1: Acknowledgement (Crash on empty input)"
    sink.received.clear()

    # The maintainer comments; Rita is notified, threaded under her own report.
    comment = make_message(
        from_=f"Mia <{MAINTAINER}>",
        to=f"bugs+1@{DOMAIN}",
        subject="Re: [bugs#1] Crash on empty input",
        extra=("In-Reply-To: <report-1@example.com>",),
        body="Can you send the input?\r\n",
    )
    send(server, comment, f"bugs+1@{DOMAIN}", MAINTAINER)
    [note] = sink.received
    assert note.rcpt_tos == ["rita@example.com"]
    message = parsed(note.content)
    assert message["Subject"] == "Re: [bugs#1] Crash on empty input"
    assert message["Reply-To"] == f"bugs+1@{DOMAIN}"
    assert message["In-Reply-To"] == "<report-1@example.com>"
    assert "<report-1@example.com>" in message["References"]
    assert message["List-Unsubscribe"] == f"<mailto:bugs+1+unsubscribe@{DOMAIN}>"
    assert "Can you send the input?" in message.get_content()
    assert "/bugs/tickets/1/" in message.get_content()

    # Rita replies to the notification: a comment, and Mia (a commenter) hears of it.
    sink.received.clear()
    reply = make_message(
        from_=REPORTER,
        to=message["Reply-To"],
        subject=f"Re: {message['Subject']}",
        extra=(f"In-Reply-To: {message['Message-ID']}",),
        body="Here: an empty file.\r\n",
    )
    send(server, reply, f"bugs+1@{DOMAIN}")
    assert [r.rcpt_tos for r in sink.received] == [[MAINTAINER]]
    events = session.scalars(select(TicketEvent).order_by(TicketEvent.id)).all()
    assert [e.kind for e in events] == [EventKind.opened, EventKind.comment, EventKind.comment]
    assert events[2].raw == reply  # the mail is kept as received


def test_triage_commands_in_the_middle_of_a_signed_reply(
    server, session, sink, tracker, publish, rsa_key
):
    send(server, make_message(from_=REPORTER, to=BUGS, subject="Slow startup"), BUGS)
    sink.received.clear()  # the acknowledgement
    publish("maint.example")
    body = (
        "Confirmed on 2.1.\r\n!status confirmed\r\n!label perf, startup\r\n!assign me\r\n"
        "Looking into it.\r\n\r\n-- \r\nMia\r\n"
    )
    reply = make_message(
        from_=f"Mia <{MAINTAINER}>",
        to=f"bugs+1@{DOMAIN}",
        subject="Re: [bugs#1] Slow startup",
        body=body,
    )
    send(server, sign(reply, "maint.example", rsa_key[0]), f"bugs+1@{DOMAIN}", MAINTAINER)

    t = ticket(session)
    assert t.status is Status.confirmed
    assert t.labels == ["perf", "startup"] and t.assignees == [MAINTAINER]
    comment = session.scalar(select(TicketEvent).where(TicketEvent.kind == EventKind.comment))
    assert "!status" not in comment.text and "Looking into it." in comment.text
    assert comment.authenticated == "dkim"
    [note] = sink.received
    text = parsed(note.content).get_content()
    assert "status: reported -> confirmed" in text and "label: perf" in text

    send(
        server,
        sign(
            make_message(
                from_=MAINTAINER,
                to=f"bugs+1@{DOMAIN}",
                subject="Re: x",
                body="Fixed in abc123.\r\n!resolve fixed\r\n",
            ),
            "maint.example",
            rsa_key[0],
        ),
        f"bugs+1@{DOMAIN}",
        MAINTAINER,
    )
    t = ticket(session)
    assert t.status is Status.resolved and t.resolution is Resolution.fixed


def test_a_spoofed_triage_command_changes_nothing_and_is_answered(server, session, sink, tracker):
    send(server, make_message(from_=REPORTER, to=BUGS, subject="Typo"), BUGS)
    spoof = make_message(
        from_=f"Mia <{MAINTAINER}>",
        to=f"bugs+1@{DOMAIN}",
        subject="Re: [bugs#1] Typo",
        body="Not a bug.\r\n!resolve invalid\r\n",
    )
    send(server, spoof, f"bugs+1@{DOMAIN}", MAINTAINER)
    t = ticket(session)
    assert t.status is Status.reported and t.resolution is Resolution.unresolved
    comments = session.scalars(
        select(TicketEvent).where(TicketEvent.kind == EventKind.comment)
    ).all()
    assert [c.text for c in comments] == ["Not a bug."]  # the comment is kept
    refusal = [r for r in sink.received if r.rcpt_tos == [MAINTAINER]]
    assert refusal
    text = parsed(refusal[0].content).get_content()
    assert "!resolve invalid" in text and "not authenticated" in text


def test_commands_from_someone_without_triage_rights_are_refused(
    server, session, sink, tracker, publish, rsa_key
):
    send(server, make_message(from_=REPORTER, to=BUGS, subject="Typo"), BUGS)
    publish("example.com")
    mine = sign(
        make_message(
            from_=REPORTER,
            to=f"bugs+1@{DOMAIN}",
            subject="Re: Typo",
            body="!status confirmed\r\n!frobnicate\r\n",
        ),
        "example.com",
        rsa_key[0],
    )
    send(server, mine, f"bugs+1@{DOMAIN}")
    assert ticket(session).status is Status.reported
    text = parsed(sink.received[-1].content).get_content()
    assert "may not triage" in text and "unknown command !frobnicate" in text


def test_tracker_policy_refuses_html_and_unknown_tickets(server, session, tracker):
    html = make_message(to=BUGS, content_type="text/html; charset=utf-8", body="<p>x</p>\r\n")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(server, html, BUGS)
    assert refused.value.smtp_code == 550
    with smtplib.SMTP(*server.smtp_address) as client:
        client.ehlo()
        client.mail("rita@example.com")
        code, reply = client.rcpt(f"bugs+99@{DOMAIN}")
    assert code == 550 and b"no ticket 99" in reply


def test_a_redelivered_report_opens_one_ticket(server, session, tracker):
    report = make_message(from_=REPORTER, to=BUGS, subject="Once")
    send(server, report, BUGS)
    send(server, report, BUGS)
    session.expire_all()
    assert get_tracker(session, "bugs").last_number == 1


def test_lists_and_trackers_share_names(session, tracker):
    from lists.manage import ListError, create_list
    from trackers.tickets import TrackerError

    with pytest.raises(ListError, match="taken"):
        create_list(session, "bugs", "o@example.org")
    create_list(session, "dev", "o@example.org")
    with pytest.raises(TrackerError, match="taken"):
        create_tracker(session, "dev", "o@example.org")


@pytest.mark.parametrize("number", [None, 1])
def test_following_a_ticket_or_a_tracker_needs_a_confirming_reply(
    server, session, sink, tracker, number
):
    send(server, make_message(from_=REPORTER, to=BUGS, subject="Broken"), BUGS)
    sink.received.clear()
    base = f"bugs+{number}" if number else "bugs"
    fan = "fan@example.net"
    send(
        server,
        make_message(from_=fan, to=f"{base}+subscribe@{DOMAIN}"),
        f"{base}+subscribe@{DOMAIN}",
        fan,
    )
    [ask] = sink.received
    asked = parsed(ask.content)
    assert asked["From"] == f"{base}+confirm-subscribe@{DOMAIN}"
    token = re.fullmatch(r"confirm ([0-9a-f]{32})", asked["Subject"]).group(1)
    send(
        server,
        make_message(from_=fan, to=asked["From"], subject=f"Re: confirm {token}"),
        asked["From"],
        fan,
    )

    # The fan now hears of a comment on ticket 1.
    sink.received.clear()
    send(
        server,
        make_message(
            from_="x@example.org", to=f"bugs+1@{DOMAIN}", subject="Re: Broken", body="Me too.\r\n"
        ),
        f"bugs+1@{DOMAIN}",
        "x@example.org",
    )
    assert any(fan in r.rcpt_tos for r in sink.received)


def test_the_submitter_can_stop_the_notifications_of_their_ticket(server, session, sink, tracker):
    send(server, make_message(from_=REPORTER, to=BUGS, subject="Noisy"), BUGS)
    sink.received.clear()  # the acknowledgement
    quiet = make_message(
        from_=REPORTER, to=f"bugs+1@{DOMAIN}", subject="Re: Noisy", body="!unsubscribe\r\n"
    )
    send(server, quiet, f"bugs+1@{DOMAIN}")
    comment = make_message(
        from_="x@example.org", to=f"bugs+1@{DOMAIN}", subject="Re: Noisy", body="Hm.\r\n"
    )
    send(server, comment, f"bugs+1@{DOMAIN}", "x@example.org")
    assert not any("rita@example.com" in r.rcpt_tos for r in sink.received)
