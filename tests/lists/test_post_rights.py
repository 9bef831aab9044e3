"""Posting rights on the mail path: `post` starts threads, `reply` only answers them,
without either a post is refused; a private list is refused at RCPT to strangers as an
unknown address is. The rule alone first, then over real SMTP and LMTP."""

from __future__ import annotations

import smtplib

import pytest

from accounts.access import set_entry
from accounts.models import Group, GroupMember, GroupRole
from archive.models import MailingList
from lists.manage import MODERATION_MODES
from lists.membership import subscribe
from lists.post_rights import (
    ALL_MODERATED,
    NO_POSTING,
    NOT_SUBSCRIBED,
    REPLY_ONLY,
    Moderation,
    PostDecision,
    Verdict,
    decide_post,
    parse_moderation,
)
from mail.policy import Decision, Reason
from mailyard.wiring import ADDRESS_KINDS
from mta.routing import Route, route
from tests.accounts.helpers import make_user
from tests.intake import sign
from tests.messages import ANNOUNCE, DEV, DOMAIN, make_message, msgid_of, send, stored

OWNER = "owner@example.com"  # owns both lists of the `lists` fixture
ALICE = "alice@example.com"
MIA = "mia@maint.example"

# -- the rule --------------------------------------------------------------------------

EVERYONE = frozenset({"browse", "reply", "post"})
REPLIER = frozenset({"browse", "reply"})
READER = frozenset({"browse"})
ACCEPTED = PostDecision(Verdict.accept)


@pytest.mark.parametrize(
    ("rights", "is_reply", "is_subscribed", "moderation", "expected"),
    [
        (EVERYONE, False, False, Moderation.none, ACCEPTED),
        (REPLIER, True, False, Moderation.none, ACCEPTED),
        (REPLIER, False, True, Moderation.none, PostDecision(Verdict.refuse, REPLY_ONLY)),
        (READER, True, True, Moderation.none, PostDecision(Verdict.refuse, NO_POSTING)),
        (frozenset(), True, True, Moderation.none, PostDecision(Verdict.refuse, NO_POSTING)),
        (
            EVERYONE,
            False,
            False,
            Moderation.unsubscribed,
            PostDecision(Verdict.hold, NOT_SUBSCRIBED),
        ),
        (EVERYONE, False, True, Moderation.unsubscribed, ACCEPTED),
        (EVERYONE, True, True, Moderation.all, PostDecision(Verdict.hold, ALL_MODERATED)),
        # refused, not held: moderators only see posts they may let through
        (REPLIER, False, False, Moderation.all, PostDecision(Verdict.refuse, REPLY_ONLY)),
    ],
)
def test_decide_post(rights, is_reply, is_subscribed, moderation, expected):
    decided = decide_post(
        rights,
        is_reply=is_reply,
        is_subscribed=is_subscribed,
        is_moderator=False,
        moderation=moderation,
    )
    assert decided == expected


@pytest.mark.parametrize("moderation", list(Moderation))
def test_a_moderator_is_never_held(moderation):
    decided = decide_post(
        EVERYONE | {"moderate"},
        is_reply=False,
        is_subscribed=False,
        is_moderator=True,
        moderation=moderation,
    )
    assert decided == ACCEPTED


def test_an_unknown_moderation_setting_holds_everything():
    assert parse_moderation("sometimes") is Moderation.all
    assert parse_moderation("unsubscribed") is Moderation.unsubscribed


def test_the_settings_offer_exactly_the_modes_intake_knows():
    assert [m.value for m in Moderation] == list(MODERATION_MODES)


# -- people and lists ----------------------------------------------------------------------


def configure(session, list_id: int, **fields) -> None:
    mlist = session.get(MailingList, list_id)
    for name, value in fields.items():
        setattr(mlist, name, value)
    session.commit()


def post(intake, raw: bytes, to: tuple[str, ...] = (DEV,), sender: str = ALICE) -> None:
    send(intake.smtp_address, raw, to=to, sender=sender)


# -- post and reply over SMTP ------------------------------------------------------------


@pytest.fixture
def server(start_servers, relay_settings):
    return start_servers(relay_url=relay_settings.relay_url)


def test_a_reply_only_sender_answers_a_thread_but_cannot_start_one(
    server, session, lists, sink, publish, rsa_key
):
    configure(session, lists["dev"], default_rights="browse,reply")
    subscribe(session, lists["dev"], "bob@example.net")
    session.commit()
    publish("example.com")
    root = make_message(from_=f"Owner <{OWNER}>", subject="Release plan")
    root = sign(root, "example.com", rsa_key[0])
    post(server, root, sender=OWNER)  # the owner, proven by DKIM, has every right
    assert stored(session, msgid_of(root))

    answer = make_message(
        subject="Re: Release plan",
        extra=(f"In-Reply-To: <{msgid_of(root)}>", f"References: <{msgid_of(root)}>"),
    )
    sink.received.clear()
    post(server, answer)
    assert stored(session, msgid_of(answer))
    assert [r.rcpt_tos for r in sink.received] == [["bob@example.net"]]

    new_thread = make_message(subject="A new idea")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        post(server, new_thread)
    assert refused.value.smtp_code == 550
    text = refused.value.smtp_error.decode()
    assert text.startswith("5.7.1 Not posted to dev@lists.example.org")
    assert "'post' right" in text
    assert stored(session, msgid_of(new_thread)) == []


def test_a_reply_to_a_thread_of_another_list_is_a_new_thread_here(server, session, lists):
    configure(session, lists["dev"], default_rights="browse,reply")
    elsewhere = make_message(to=ANNOUNCE, subject="On announce")
    post(server, elsewhere, to=(ANNOUNCE,))
    answer = make_message(
        subject="Re: On announce", extra=(f"In-Reply-To: <{msgid_of(elsewhere)}>",)
    )
    with pytest.raises(smtplib.SMTPDataError) as refused:
        post(server, answer)
    assert "'post' right" in refused.value.smtp_error.decode()


def test_a_sender_who_may_not_write_is_refused_at_rcpt(server, session, lists):
    configure(session, lists["dev"], default_rights="browse")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        post(server, make_message())
    [(code, text)] = refused.value.recipients.values()
    assert code == 550
    assert text.startswith(b"5.7.1 <dev@lists.example.org>: alice@example.com may not post")


def test_at_data_the_from_address_decides(server, session, lists):
    """The envelope sender may post; the author in From may not."""
    configure(session, lists["dev"], default_rights="browse")
    raw = make_message(from_="Alice <alice@example.com>")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        post(server, raw, sender=OWNER)
    assert refused.value.smtp_code == 550
    assert "you may not post to this list" in refused.value.smtp_error.decode()


def test_an_access_entry_for_a_user_lets_their_authenticated_mail_post(
    server, session, lists, publish, rsa_key
):
    configure(session, lists["dev"], default_rights="browse")
    mia = make_user(session, "mia", "mia@home.example", MIA)
    set_entry(session, f"list:{lists['dev']}", {"browse", "post"}, user_id=mia.id)
    session.commit()
    publish("maint.example")
    raw = sign(make_message(from_=f"Mia <{MIA}>"), "maint.example", rsa_key[0])
    post(server, raw, sender=MIA)  # her second confirmed address, proven by DKIM
    assert stored(session, msgid_of(raw))


def test_unauthenticated_mail_does_not_bring_the_account_along(server, session, lists):
    """A forged From of Mia's address counts as the bare address: the entry for her
    account does not apply, and the refusal says why."""
    configure(session, lists["dev"], default_rights="browse")
    mia = make_user(session, "mia", MIA)
    set_entry(session, f"list:{lists['dev']}", {"browse", "post"}, user_id=mia.id)
    session.commit()
    raw = make_message(from_=f"Mia <{MIA}>")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        post(server, raw, sender=MIA)
    reason = " ".join(refused.value.smtp_error.decode().split())
    assert refused.value.smtp_code == 550
    assert "not authenticated, so it does not count as ~mia" in reason
    assert not stored(session, msgid_of(raw))


# -- private lists ----------------------------------------------------------------------


def refusal_at_rcpt(server, to: str, sender: str) -> tuple[int, bytes]:
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.ehlo()
        client.mail(sender)
        return client.rcpt(to)


def test_a_private_list_is_refused_to_strangers_as_an_unknown_address_is(server, session, lists):
    configure(session, lists["dev"], visibility="private")
    unknown = refusal_at_rcpt(server, f"nosuch@{DOMAIN}", ALICE)
    assert unknown[0] == 550
    for local in ("dev", "dev+subscribe", "dev+help", "dev+owner"):
        code, text = refusal_at_rcpt(server, f"{local}@{DOMAIN}", ALICE)
        assert code == 550
        assert text.replace(local.encode(), b"nosuch") == unknown[1]
    # The null sender (a bounce, an autoreply) is a stranger too.
    assert refusal_at_rcpt(server, DEV, "")[0] == 550


def test_a_private_list_takes_posts_from_its_members(server, session, lists, publish, rsa_key):
    configure(session, lists["dev"], visibility="private")
    # A member of the owning group, writing from a confirmed address...
    mia = make_user(session, "mia", MIA)
    group = Group(name="thing")
    session.add(group)
    session.flush()
    session.add(GroupMember(group_id=group.id, user_id=mia.id, role=GroupRole.member))
    session.commit()
    configure(session, lists["dev"], owner_group_id=group.id)
    # ...and an address with an access entry of its own.
    set_entry(session, f"list:{lists['dev']}", {"browse", "reply", "post"}, address=ALICE)
    session.commit()

    publish("maint.example")
    for sender in (MIA, ALICE):  # Mia's membership counts once her mail proves it is hers
        raw = make_message(from_=sender)
        raw = sign(raw, "maint.example", rsa_key[0]) if sender == MIA else raw
        post(server, raw, sender=sender)
        assert stored(session, msgid_of(raw)), sender
    assert refusal_at_rcpt(server, DEV, "carol@example.org")[0] == 550


def test_routing_without_a_sender_does_not_judge_it(session, settings, lists):
    configure(session, lists["dev"], visibility="private")
    assert isinstance(route(session, settings, ADDRESS_KINDS, DEV), Route)
    refused = route(session, settings, ADDRESS_KINDS, DEV, "carol@example.org")
    assert isinstance(refused, Decision) and refused.reason is Reason.UNKNOWN_RECIPIENT
    # Bounces reach every list, whoever sends them.
    assert isinstance(route(session, settings, ADDRESS_KINDS, f"dev+bounces@{DOMAIN}", ""), Route)


# -- one message, several lists --------------------------------------------------------


def lmtp_deliver(address, raw: bytes, recipients: list[str], sender: str = ALICE):
    with smtplib.LMTP(*address, timeout=10) as client:
        client.ehlo("postfix.example.org")
        client.mail(sender)
        accepted = [r for r in recipients if client.rcpt(r)[0] == 250]
        replies = [client.data(raw)]
        replies += [client.getreply() for _ in accepted[1:]]
        assert client.noop()[0] == 250
    return replies


def test_lmtp_answers_each_list_by_its_own_rights(server, session, lists):
    configure(session, lists["announce"], default_rights="browse,reply")
    raw = make_message(cc=ANNOUNCE)
    (dev_code, _), (announce_code, announce_text) = lmtp_deliver(
        server.lmtp_address, raw, [DEV, ANNOUNCE]
    )
    assert (dev_code, announce_code) == (250, 550)
    assert b"Not posted to announce@lists.example.org" in announce_text
    [message] = stored(session, msgid_of(raw))
    assert message.envelope_to == [DEV]


def test_smtp_refuses_the_whole_message_when_one_list_refuses_it(server, session, lists):
    configure(session, lists["announce"], default_rights="browse,reply")
    raw = make_message(cc=ANNOUNCE)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        post(server, raw, to=(DEV, ANNOUNCE))
    assert b"announce@lists.example.org" in refused.value.smtp_error
    assert stored(session, msgid_of(raw)) == []
