"""List delivery over real SMTP: subscribing by mail, fan-out of posts to a real relay
sink, list headers, the list's DKIM signature, DMARC mitigation, VERP bounces, digests."""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import dkim as dkimpy
import pytest
from sqlalchemy import select, update

from core.db import utcnow
from lists.digests import send_digests
from lists.membership import find_subscription, list_delivery, subscribe
from lists.models import BounceEvent, DeliveryMode, SubscriptionStatus
from mail import tasks
from mail.confirmation import request_change
from mail.delivery import deliver
from mail.dkim_sign import dns_record, generate_key
from mail.dns import dkim_dnsfunc
from mail.models import OutboxMessage, OutboxStatus, PendingRequest, RequestKind
from tests.intake import sign
from tests.messages import DEV, DOMAIN, make_message, new_msgid

ALICE = "alice@example.com"
BOB = "bob@example.net"
CAROL = "carol@example.org"


@pytest.fixture
def list_key(settings, dns_table):
    """A DKIM key for the list domain, in the data directory and published."""
    pem = generate_key(2048)
    with open(settings.dkim_key_file, "wb") as f:
        f.write(pem)
    dns_table.add_dkim_key(settings.dkim_selector, DOMAIN, dns_record(pem))
    return pem


@pytest.fixture
def server(start_servers, relay_settings):
    return start_servers(relay_url=relay_settings.relay_url)


def send(server, raw: bytes, to: list[str], mail_from: str = ALICE) -> None:
    with smtplib.SMTP(*server.smtp_address) as client:
        client.sendmail(mail_from, to, raw)


def members(session, list_id: int, *addresses: str) -> None:
    for address in addresses:
        subscribe(session, list_id, address)
    session.commit()


def copies_for(sink, rcpt: str) -> list:
    return [r for r in sink.received if rcpt in r.rcpt_tos]


def parsed(content: bytes):
    return message_from_bytes(content, policy=default)


# -- subscribing by mail -----------------------------------------------------------------


def test_subscribe_by_mail_and_confirm_by_reply(server, session, sink, lists):
    send(
        server,
        make_message(from_=f"Carol <{CAROL}>", to=f"dev+subscribe@{DOMAIN}"),
        [f"dev+subscribe@{DOMAIN}"],
        CAROL,
    )

    [request] = sink.received
    assert request.rcpt_tos == [CAROL]
    asked = parsed(request.content)
    assert asked["From"] == f"dev+confirm-subscribe@{DOMAIN}"
    assert asked["Auto-Submitted"] == "auto-replied"
    token = re.fullmatch(r"confirm ([0-9a-f]{32})", asked["Subject"]).group(1)
    assert find_subscription(session, lists["dev"], CAROL) is None

    reply = make_message(
        from_=f"Carol <{CAROL}>",
        to=f"dev+confirm-subscribe@{DOMAIN}",
        subject=f"Re: confirm {token}",
        extra=(f"In-Reply-To: {asked['Message-ID']}",),
    )
    send(server, reply, [f"dev+confirm-subscribe@{DOMAIN}"], CAROL)

    session.expire_all()
    sub = find_subscription(session, lists["dev"], CAROL)
    assert sub is not None and sub.status is SubscriptionStatus.active
    welcome = parsed(sink.received[-1].content)
    assert welcome["Subject"] == "Welcome to dev"
    assert "dev+unsubscribe@" in welcome.get_content()
    # The confirmation is spent: replying again changes nothing and says so.
    send(
        server,
        reply.replace(b"Message-ID: <", b"Message-ID: <again."),
        [f"dev+confirm-subscribe@{DOMAIN}"],
        CAROL,
    )
    assert parsed(sink.received[-1].content)["Subject"] == "Unknown or expired confirmation"


def test_someone_who_may_not_read_the_list_cannot_subscribe(server, session, sink, lists):
    """A list whose archive is closed to strangers (they may post, not read): a
    subscription would bring them nothing, and the answer says so."""
    from archive.models import MailingList

    session.get(MailingList, lists["dev"]).default_rights = "post"
    session.commit()
    send(server, make_message(to=f"dev+subscribe@{DOMAIN}"), [f"dev+subscribe@{DOMAIN}"])
    [answer] = copies_for(sink, ALICE)
    assert "may not read" in parsed(answer.content).get_content()
    assert find_subscription(session, lists["dev"], ALICE) is None


def test_a_repeated_request_reuses_the_pending_token(server, session, sink, lists):
    for _ in range(2):
        send(
            server,
            make_message(from_=CAROL, to=f"dev+subscribe@{DOMAIN}"),
            [f"dev+subscribe@{DOMAIN}"],
            CAROL,
        )
    subjects = {parsed(r.content)["Subject"] for r in sink.received}
    assert len(sink.received) == 2 and len(subjects) == 1


def test_an_expired_token_is_replaced_and_refused(session, lists):
    now = utcnow()
    first = request_change(session, f"list:{lists['dev']}", RequestKind.subscribe, CAROL, now=now)
    token = first.token
    later = now + timedelta(days=4)
    second = request_change(
        session, f"list:{lists['dev']}", RequestKind.subscribe, CAROL, now=later
    )
    assert second.token != token
    assert session.scalar(select(PendingRequest).where(PendingRequest.token == token)) is None


def test_unsubscribe_by_mail_and_confirm(server, session, sink, lists):
    members(session, lists["dev"], CAROL)
    send(
        server,
        make_message(from_=CAROL, to=f"dev+unsubscribe@{DOMAIN}"),
        [f"dev+unsubscribe@{DOMAIN}"],
        CAROL,
    )
    asked = parsed(sink.received[-1].content)
    assert asked["From"] == f"dev+confirm-unsubscribe@{DOMAIN}"
    send(
        server,
        make_message(from_=CAROL, to=asked["From"], subject=f"Aw: Re: {asked['Subject']}"),
        [asked["From"]],
        CAROL,
    )
    session.expire_all()
    assert find_subscription(session, lists["dev"], CAROL) is None
    assert parsed(sink.received[-1].content)["Subject"] == "You have left dev"


def test_help_lists_the_addresses(server, sink, lists):
    send(server, make_message(from_=CAROL, to=f"dev+help@{DOMAIN}"), [f"dev+help@{DOMAIN}"], CAROL)
    text = parsed(sink.received[-1].content).get_content()
    for suffix in ("subscribe", "unsubscribe", "help", "owner"):
        assert f"dev+{suffix}@{DOMAIN}" in text


def test_an_unknown_suffix_is_refused_naming_the_valid_ones(server, lists):
    with smtplib.SMTP(*server.smtp_address) as client:
        client.ehlo()
        client.mail(CAROL)
        code, reply = client.rcpt(f"dev+subscrbe@{DOMAIN}")
    assert code == 550
    assert b"dev+subscribe@" in reply and b"dev+unsubscribe@" in reply


def test_robots_get_no_answer_from_command_addresses(server, sink, lists):
    send(
        server,
        make_message(
            from_=CAROL, to=f"dev+subscribe@{DOMAIN}", extra=("Auto-Submitted: auto-replied",)
        ),
        [f"dev+subscribe@{DOMAIN}"],
        CAROL,
    )
    assert sink.received == []


# -- fan-out -------------------------------------------------------------------------------


def test_every_subscriber_gets_one_copy_with_the_list_headers(
    server, session, sink, lists, list_key, publish, rsa_key
):
    members(session, lists["dev"], ALICE, BOB, CAROL, "dave@example.com")
    sub = find_subscription(session, lists["dev"], ALICE)
    sub.copy_self = False
    session.commit()
    publish("example.com")
    original = sign(
        make_message(from_=f"Alice <{ALICE}>", cc="dave@example.com"), "example.com", rsa_key[0]
    )
    send(server, original, [DEV])

    got = {rcpt: copies_for(sink, rcpt) for rcpt in (ALICE, BOB, CAROL, "dave@example.com")}
    assert [len(got[r]) for r in (BOB, CAROL)] == [1, 1]
    assert got[ALICE] == []  # copy_self off
    assert got["dave@example.com"] == []  # in Cc: has the author's copy
    copy = got[BOB][0]
    assert copy.mail_from == f"dev+bounces=bob=example.net@{DOMAIN}"  # VERP
    message = parsed(copy.content)
    assert message["List-Id"] == f"<dev.{DOMAIN}>"
    assert message["List-Post"] == f"<mailto:{DEV}>"
    assert message["List-Archive"] == "<http://archive.example.org/dev/>"
    assert message["Archived-At"].startswith("<http://archive.example.org/dev/")
    assert message["Precedence"] == "list"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/dev/unsubscribe/" in message["List-Unsubscribe"]
    assert message["From"] == f"Alice <{ALICE}>"
    # The body is the author's, byte for byte, and both signatures verify.
    assert copy.content.split(b"\r\n\r\n", 1)[1] == original.split(b"\r\n\r\n", 1)[1]
    assert dkimpy.verify(copy.content, dnsfunc=dkim_dnsfunc)  # the first: the list's
    signatures = [v for k, v in message.items() if k.lower() == "dkim-signature"]
    assert any(f"d={DOMAIN}" in s for s in signatures)
    assert any("d=example.com" in s for s in signatures)
    for idx in range(2):
        assert dkimpy.DKIM(copy.content).verify(idx=idx, dnsfunc=dkim_dnsfunc)
    # Each subscriber's one-click link is their own.
    other = parsed(got[CAROL][0].content)["List-Unsubscribe"]
    assert other != message["List-Unsubscribe"]


def test_a_resent_post_is_not_sent_again(server, session, sink, lists):
    members(session, lists["dev"], BOB)
    raw = make_message()
    send(server, raw, [DEV])
    send(server, raw, [DEV])
    assert len(copies_for(sink, BOB)) == 1


def test_a_private_list_sends_posts_only_to_subscribers_who_may_read_it(
    server, session, sink, lists
):
    """Bob subscribed while the list was public; once it is private, only Carol, whom an
    access entry lets browse, and the owner get its posts."""
    from accounts.access import set_entry
    from archive.models import MailingList

    mlist = session.get(MailingList, lists["dev"])
    owner = mlist.owner_email
    members(session, lists["dev"], BOB, CAROL, owner)
    mlist.visibility = "private"
    set_entry(session, f"list:{mlist.id}", {"browse", "post"}, address=CAROL)
    set_entry(session, f"list:{mlist.id}", {"post"}, address=ALICE)
    session.commit()
    send(server, make_message(), [DEV])
    assert len(copies_for(sink, CAROL)) == 1
    assert len(copies_for(sink, owner)) == 1
    assert copies_for(sink, BOB) == []


def test_from_is_munged_when_the_author_domain_publishes_p_reject(
    server, session, sink, lists, dns_table
):
    dns_table.add("_dmarc.strict.example", "v=DMARC1; p=reject")
    members(session, lists["dev"], BOB)
    send(server, make_message(from_="Erin <erin@strict.example>"), [DEV], "erin@strict.example")
    message = parsed(copies_for(sink, BOB)[0].content)
    assert message["From"].addresses[0].addr_spec == DEV
    assert "Erin via dev" in str(message["From"])
    assert message["Reply-To"] == "Erin <erin@strict.example>"


def test_batched_delivery_when_not_personalized(server, session, sink, lists):
    members(session, lists["dev"], BOB, CAROL)
    list_delivery(session, lists["dev"]).personalize = False
    session.commit()
    send(server, make_message(), [DEV])
    [copy] = [r for r in sink.received if BOB in r.rcpt_tos]
    assert sorted(copy.rcpt_tos) == [BOB, CAROL]
    assert copy.mail_from == f"dev+bounces@{DOMAIN}"
    assert "List-Unsubscribe-Post" not in parsed(copy.content)


def test_a_deferring_relay_gets_every_copy_once_in_the_end(server, session, sink, lists):
    members(session, lists["dev"], BOB, CAROL, "dave@example.com")
    sink.defer = 2
    send(server, make_message(), [DEV])
    assert len(sink.received) == 1
    for _ in range(3):  # the backoff passes; the sweep finds the rows again
        session.execute(
            update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
        tasks.sweep_outbox()
    for rcpt in (BOB, CAROL, "dave@example.com"):
        assert len(copies_for(sink, rcpt)) == 1
    session.expire_all()
    [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.list_id.is_not(None)))
    assert row.status is OutboxStatus.sent and row.delivered == 3 and row.remaining == []


def test_a_copy_refused_with_550_counts_as_a_bounce(server, session, sink, lists):
    members(session, lists["dev"], BOB, CAROL)
    sink.unknown = {BOB}
    send(server, make_message(), [DEV])
    [event] = session.scalars(select(BounceEvent))
    assert event.address == BOB and event.source == "smtp" and event.permanent
    assert len(copies_for(sink, CAROL)) == 1


def test_undeliverable_copies_are_reported_to_the_owner_after_the_give_up_time(
    server, session, sink, lists, relay_settings
):
    members(session, lists["dev"], BOB)
    sink.defer = 1
    send(server, make_message(), [DEV])
    [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.list_id.is_not(None)))
    row.created_at = utcnow() - timedelta(days=3)
    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    session.commit()
    sink.defer = 1
    assert deliver(session, row.id, relay_settings) == "failed"
    session.commit()
    tasks.sweep_outbox()
    notice = [r for r in sink.received if r.rcpt_tos == ["owner@example.com"]]
    assert notice and BOB in parsed(notice[0].content).get_content()


# -- bounces -------------------------------------------------------------------------------


def dsn_for(rcpt: str, status: str = "5.1.1") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net\r\n"
        f"To: dev+bounces@{DOMAIN}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{new_msgid()}>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} no such mailbox\r\n"
        "--b--\r\n"
    ).encode()


def test_a_verp_bounce_disables_the_subscriber_at_the_threshold(server, session, sink, lists):
    members(session, lists["dev"], BOB, CAROL)
    list_delivery(session, lists["dev"]).bounce_threshold = 1
    session.commit()
    verp = f"dev+bounces=bob=example.net@{DOMAIN}"
    # A DSN that does not even name Bob: VERP says who bounced.
    send(server, dsn_for("someone@elsewhere.example"), [verp], "")
    session.expire_all()
    sub = find_subscription(session, lists["dev"], BOB)
    assert sub.status is SubscriptionStatus.disabled
    notices = {r.rcpt_tos[0]: parsed(r.content)["Subject"] for r in sink.received}
    assert "disabled" in notices[BOB] and "disabled" in notices["owner@example.com"]
    # A disabled subscriber gets no more posts.
    sink.received.clear()
    send(server, make_message(), [DEV])
    assert copies_for(sink, BOB) == [] and len(copies_for(sink, CAROL)) == 1


def test_bounce_points_count_once_a_day_and_go_stale(session, lists):
    from lists.bounces import record_bounce

    members(session, lists["dev"], BOB)
    day = utcnow()
    for when in (day, day + timedelta(hours=1), day + timedelta(days=1)):
        record_bounce(session, lists["dev"], BOB, permanent=True, now=when)
    sub = find_subscription(session, lists["dev"], BOB)
    assert sub.bounce_score == 2 and sub.status is SubscriptionStatus.active
    record_bounce(session, lists["dev"], BOB, permanent=True, now=day + timedelta(days=20))
    assert sub.bounce_score == 1
    record_bounce(session, lists["dev"], BOB, permanent=False, now=day + timedelta(days=21))
    assert sub.bounce_score == 1


def test_a_delay_notice_does_not_count(server, session, lists):
    members(session, lists["dev"], BOB)
    send(
        server,
        dsn_for(BOB).replace(b"Action: failed", b"Action: delayed").replace(b"5.1.1", b"4.4.1"),
        [f"dev+bounces@{DOMAIN}"],
        "",
    )
    session.expire_all()
    assert find_subscription(session, lists["dev"], BOB).bounce_score == 0


# -- digests -------------------------------------------------------------------------------


def test_digest_subscribers_get_one_daily_digest_instead(
    server, session, sink, lists, relay_settings
):
    subscribe(session, lists["dev"], CAROL, delivery=DeliveryMode.digest)
    sub = find_subscription(session, lists["dev"], CAROL)
    sub.subscribed_at = utcnow() - timedelta(days=1)
    session.commit()
    send(server, make_message(subject="first post"), [DEV])
    send(server, make_message(subject="second post", body="- a line with a dash\r\n"), [DEV])
    assert copies_for(sink, CAROL) == []

    assert send_digests(session, relay_settings) == 1
    session.commit()
    [digest] = copies_for(sink, CAROL)
    message = parsed(digest.content)
    assert message["Subject"] == "dev Digest, Vol 1, Issue 1"
    text = message.get_content()
    assert "first post" in text and "second post" in text
    assert "\n- - a line with a dash" in text
    # Nothing new since: no second digest.
    assert send_digests(session, relay_settings) == 0


def test_delivery_options_made_meanwhile_by_another_worker_are_found(settings, lists):
    from core.db import new_session
    from lists.models import ListDelivery

    first, second = new_session(settings), new_session(settings)
    try:
        assert second.get(ListDelivery, lists["dev"]) is None  # looked before the other made it
        list_delivery(first, lists["dev"]).subject_prefix = "dev"
        first.commit()
        assert list_delivery(second, lists["dev"]).subject_prefix == "dev"
    finally:
        first.close()
        second.close()


def test_subject_tag_and_footer_are_list_options(server, session, sink, lists):
    members(session, lists["dev"], BOB)
    options = list_delivery(session, lists["dev"])
    options.subject_prefix, options.footer = "dev", "Archive: http://archive.example.org/dev/"
    session.commit()
    send(server, make_message(subject="Re: hello"), [DEV])
    message = parsed(copies_for(sink, BOB)[0].content)
    assert message["Subject"] == "[dev] Re: hello"
    assert message.get_content().rstrip().endswith("Archive: http://archive.example.org/dev/")


def test_wrap_sends_the_post_as_an_attachment(server, session, sink, lists):
    members(session, lists["dev"], BOB)
    list_delivery(session, lists["dev"]).dmarc_mode = "wrap"
    session.commit()
    original = make_message(from_="Erin <erin@strict.example>", subject="wrapped")
    send(server, original, [DEV], "erin@strict.example")
    message = parsed(copies_for(sink, BOB)[0].content)
    assert message.get_content_type() == "message/rfc822"
    assert message["From"].addresses[0].addr_spec == DEV
    inner = message.get_payload()[0]
    assert inner["From"] == "Erin <erin@strict.example>" and inner["Subject"] == "wrapped"
