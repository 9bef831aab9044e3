"""A ticket carries at most MAX_LABELS_PER_TICKET labels and a tracker knows at most
MAX_LABELS_PER_TRACKER (5,000 labels once made a 471 KB ticket page): past either, a
`!label` is refused with a reason that says the limit, by mail (the answer to the
triager) as on the web (`tests/web/test_ticket_label_limits.py`). Labels within the
limits, and labels the tracker already has, still apply (the positive controls)."""

from __future__ import annotations

import smtplib
from email import message_from_bytes
from email.policy import default

import pytest

from tests.intake import sign
from tests.messages import make_message
from trackers.commands import parse_reply
from trackers.tickets import (
    MAX_LABELS_PER_TICKET,
    MAX_LABELS_PER_TRACKER,
    CommandRefused,
    Origin,
    apply_command,
    create_tracker,
    ensure_label,
    get_ticket,
    get_tracker,
    grant,
    open_ticket,
)

DOMAIN = "lists.example.org"
MIA = "mia@maint.example"
TRIAGER = Origin(address=MIA, authenticated="dkim")


@pytest.fixture
def bugs(session):
    tracker = create_tracker(session, "bugs", "owner@example.org", "Bugs")
    grant(session, tracker, MIA)
    open_ticket(session, tracker, "One", "Text.\n", TRIAGER)
    open_ticket(session, tracker, "Two", "Text.\n", TRIAGER)
    session.commit()
    return tracker


def label(session, tracker, number: int, names: list[str]):
    ticket = get_ticket(session, tracker.id, number)
    [command] = parse_reply("!label " + " ".join(names)).commands
    return apply_command(session, tracker, ticket, command, TRIAGER)


def test_a_ticket_takes_labels_up_to_the_limit_and_no_more(session, bugs):
    names = [f"l{i}" for i in range(MAX_LABELS_PER_TICKET)]
    label(session, bugs, 1, names)
    assert len(get_ticket(session, bugs.id, 1).labels) == MAX_LABELS_PER_TICKET
    label(session, bugs, 1, ["l0"])  # already there: nothing to add, no refusal
    with pytest.raises(CommandRefused) as refused:
        label(session, bugs, 1, ["one-more"])
    assert f"at most {MAX_LABELS_PER_TICKET} labels" in str(refused.value)
    assert "!unlabel" in str(refused.value)
    assert len(get_ticket(session, bugs.id, 1).labels) == MAX_LABELS_PER_TICKET


def test_a_tracker_takes_new_labels_up_to_its_limit(session, bugs):
    for i in range(MAX_LABELS_PER_TRACKER):
        ensure_label(session, bugs, f"known{i}")
    session.flush()
    with pytest.raises(CommandRefused) as refused:
        label(session, bugs, 1, ["brand-new"])
    assert f"{MAX_LABELS_PER_TRACKER} labels" in str(refused.value)
    label(session, bugs, 1, ["known1"])  # one it has is still fine
    assert get_ticket(session, bugs.id, 1).labels == ["known1"]


def test_too_many_labels_by_mail_are_refused_and_answered(
    start_servers, relay_settings, session, sink, bugs, publish, rsa_key
):
    server = start_servers(relay_url=relay_settings.relay_url)
    publish("maint.example")
    names = " ".join(f"x{i}" for i in range(MAX_LABELS_PER_TICKET + 1))
    mail = make_message(
        from_=MIA, to=f"bugs+2@{DOMAIN}", subject="Re: Two", body=f"!label {names}\r\n"
    )
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.sendmail(MIA, [f"bugs+2@{DOMAIN}"], sign(mail, "maint.example", rsa_key[0]))
    session.expire_all()
    assert get_ticket(session, get_tracker(session, "bugs").id, 2).labels == []
    [answer] = [r for r in sink.received if r.rcpt_tos == [MIA]]
    text = " ".join(message_from_bytes(answer.content, policy=default).get_content().split())
    assert f"at most {MAX_LABELS_PER_TICKET} labels" in text
