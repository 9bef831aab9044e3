"""The moderation queue by mail, over real SMTP: a held post is kept out of the archive
and out of subscribers' mailboxes, its moderators get a notice with the post attached,
and their authenticated `!approve` or `!reject` replies decide; anything else changes
nothing and is answered. Expiry is the beat task's."""

from __future__ import annotations

import os
import shutil
import smtplib
import tempfile
from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import gnupg
import pytest
from sqlalchemy import select, update

from accounts.access import set_entry
from archive.models import MessageStatus
from core.db import utcnow
from lists import tasks
from lists.membership import subscribe
from lists.models import HeldMessage
from lists.moderation_mail import Action, CommandError, find_command
from mail.keys import add_pgp_key
from mail.pgp import stop_gnupg_daemons
from mailyard.celery_app import app as celery_app
from tests.accounts.helpers import make_user
from tests.intake import sign
from tests.lists.test_post_rights import configure, lmtp_deliver
from tests.messages import ANNOUNCE, DEV, DOMAIN, make_message, msgid_of, stored

OWNER = "owner@example.com"
ALICE = "alice@example.com"  # writes to the list without a subscription
BOB = "bob@example.net"  # subscribed
MIA = "mia@maint.example"  # moderates dev


@pytest.fixture
def server(start_servers, relay_settings, session, lists):
    configure(session, lists["dev"], moderation="unsubscribed")
    mia = make_user(session, "mia", MIA)
    set_entry(
        session, f"list:{lists['dev']}", {"browse", "reply", "post", "moderate"}, user_id=mia.id
    )
    subscribe(session, lists["dev"], BOB)
    session.commit()
    return start_servers(relay_url=relay_settings.relay_url)


def submit(server, raw: bytes, to: str = DEV, sender: str = ALICE) -> tuple[int, bytes]:
    """MAIL, RCPT, DATA by hand, to read the text of the DATA reply."""
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.ehlo()
        assert client.mail(sender)[0] == 250
        code, text = client.rcpt(to)
        assert code == 250, text
        return client.data(raw)


def parsed(content: bytes):
    return message_from_bytes(content, policy=default)


def sent_to(sink, address: str) -> list:
    return [parsed(r.content) for r in sink.received if address in r.rcpt_tos]


def held_rows(session) -> list[HeldMessage]:
    session.expire_all()
    return list(session.scalars(select(HeldMessage).order_by(HeldMessage.id)))


def hold_one(server, session, subject: str = "Can I ask here?") -> tuple[bytes, HeldMessage]:
    raw = make_message(from_=f"Alice <{ALICE}>", subject=subject)
    code, text = submit(server, raw)
    assert code == 250 and text.startswith(b"2.0.0 Held for moderation"), text
    [held] = [h for h in held_rows(session) if h.message_id == msgid_of(raw)]
    return raw, held


def answer(held: HeldMessage, body: str, from_: str = MIA, subject: str = "") -> bytes:
    return make_message(
        from_=from_,
        to=f"dev+moderate-{held.token}@{DOMAIN}",
        subject=subject or f"Re: [dev] Held for moderation: {held.subject}",
        body=body,
    )


def send_answer(server, held: HeldMessage, raw: bytes, sender: str = MIA) -> None:
    code, text = submit(server, raw, to=f"dev+moderate-{held.token}@{DOMAIN}", sender=sender)
    assert code == 250, text


# -- holding ---------------------------------------------------------------------------


def test_a_post_from_an_unsubscribed_sender_is_held_and_the_moderators_are_told(
    server, session, sink, lists
):
    raw = make_message(from_=f"Alice <{ALICE}>", subject="Can I ask here?")
    code, text = submit(server, raw)
    assert code == 250
    assert text == b"2.0.0 Held for moderation: the sender is not subscribed to this list"

    assert stored(session, msgid_of(raw)) == []  # not archived...
    assert sent_to(sink, BOB) == []  # ...and not delivered
    [held] = held_rows(session)
    assert (held.status, held.from_address, held.rcpt_to) == ("held", ALICE, DEV)
    assert held.expires_at - held.held_at == timedelta(days=14)

    [delivery] = [r for r in sink.received if OWNER in r.rcpt_tos]
    assert sorted(delivery.rcpt_tos) == sorted([OWNER, MIA])  # owner and access entry
    note = parsed(delivery.content)
    assert note["From"].addresses[0].addr_spec == f"dev+moderate-{held.token}@{DOMAIN}"
    assert note["Subject"] == (
        "[dev] Held for moderation (the sender is not subscribed to this list): Can I ask here?"
    )
    assert note["Auto-Submitted"] == "auto-generated"
    text_part, attached = note.iter_parts()
    instructions = text_part.get_content()
    assert "!approve" in instructions and "!reject REASON" in instructions
    assert f"Held post: {held.token}" in instructions
    assert "http://archive.example.org/dev/moderation" in instructions
    # No line starts with a command: a reply quoting the notice unmarked acts on nothing.
    assert not [line for line in instructions.splitlines() if line.strip().startswith("!")]
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_content()["Message-ID"] == f"<{msgid_of(raw)}>"
    assert raw in delivery.content  # the post as received, byte for byte


def test_a_subscriber_posts_at_once_and_a_repeated_held_post_is_held_once(
    server, session, sink, lists
):
    mine = make_message(from_=BOB)
    assert submit(server, mine, sender=BOB) == (250, b"2.0.0 OK")
    assert stored(session, msgid_of(mine))

    raw = make_message(from_=ALICE)
    submit(server, raw)
    notices = len(sink.received)
    submit(server, raw)  # a client retrying after a lost answer
    assert len(held_rows(session)) == 1 and len(sink.received) == notices
    # A different post that reuses an archived Message-ID is held, not dropped.
    submit(server, mine.replace(b"Hello", b"Hullo").replace(BOB.encode(), ALICE.encode()))
    assert [h.message_id for h in held_rows(session)] == [msgid_of(raw), msgid_of(mine)]


def test_moderation_all_holds_subscribers_but_not_moderators(
    server, session, sink, lists, publish, rsa_key
):
    configure(session, lists["dev"], moderation="all")
    code, text = submit(server, make_message(from_=BOB), sender=BOB)
    assert b"every post to this list waits for a moderator" in text
    publish("maint.example")
    mine = sign(make_message(from_=MIA), "maint.example", rsa_key[0])  # proven: her account
    assert submit(server, mine, sender=MIA) == (250, b"2.0.0 OK")
    assert stored(session, msgid_of(mine))


def test_lmtp_holds_on_one_list_and_archives_on_the_other(server, session, lists):
    raw = make_message(from_=ALICE, cc=ANNOUNCE)
    (dev_code, dev_text), (announce_code, announce_text) = lmtp_deliver(
        server.lmtp_address, raw, [DEV, ANNOUNCE]
    )
    assert (dev_code, announce_code) == (250, 250)
    assert dev_text.startswith(b"2.0.0 Held for moderation") and announce_text == b"2.0.0 OK"
    [message] = stored(session, msgid_of(raw))
    assert message.envelope_to == [ANNOUNCE]
    [held] = held_rows(session)
    assert held.list_id == lists["dev"]


def test_smtp_answers_once_that_the_post_is_held_and_archives_it_elsewhere(server, session, lists):
    raw = make_message(from_=ALICE, cc=ANNOUNCE)
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.ehlo()
        client.mail(ALICE)
        client.rcpt(DEV)
        client.rcpt(ANNOUNCE)
        code, text = client.data(raw)
    assert code == 250 and text.startswith(b"2.0.0 Held for moderation")
    [message] = stored(session, msgid_of(raw))
    assert message.envelope_to == [ANNOUNCE]
    assert [h.list_id for h in held_rows(session)] == [lists["dev"]]


# -- deciding by mail ----------------------------------------------------------------


def test_approve_by_a_dkim_authenticated_moderator_archives_and_delivers(
    server, session, sink, lists, publish, rsa_key
):
    raw, held = hold_one(server, session)
    publish("maint.example")
    sink.received.clear()
    reply = answer(held, "Fine by me.\r\n\r\n!approve\r\n\r\n> A post to dev is held\r\n")
    send_answer(server, held, sign(reply, "maint.example", rsa_key[0]))

    [message] = stored(session, msgid_of(raw))
    assert message.raw == raw and message.status is MessageStatus.archived
    assert message.envelope_to == [DEV]
    [copy] = sent_to(sink, BOB)
    assert copy["List-Id"] == "<dev.lists.example.org>" and copy["Subject"] == held.subject
    [held] = held_rows(session)
    assert (held.status, held.decided_by) == ("approved", MIA)
    [confirmation] = sent_to(sink, MIA)
    assert confirmation.get_content().startswith("Approved")


def test_a_spoofed_approve_changes_nothing_and_is_answered(server, session, sink, lists):
    raw, held = hold_one(server, session)
    sink.received.clear()
    send_answer(server, held, answer(held, "!approve\r\n"))  # From: Mia, but not signed

    assert stored(session, msgid_of(raw)) == []
    assert held_rows(session)[0].status == "held"
    assert sent_to(sink, BOB) == []
    [refusal] = sent_to(sink, MIA)
    assert "Nothing was changed" in refusal.get_content()
    assert "mia@maint.example is not authenticated" in refusal.get_content()


def test_an_authenticated_non_moderator_may_not_approve(
    server, session, sink, lists, publish, rsa_key
):
    raw, held = hold_one(server, session)
    publish("example.com")
    sink.received.clear()
    mine = sign(answer(held, "!approve\r\n", from_=ALICE), "example.com", rsa_key[0])
    send_answer(server, held, mine, sender=ALICE)
    assert stored(session, msgid_of(raw)) == []
    assert held_rows(session)[0].status == "held"
    [refusal] = sent_to(sink, ALICE)
    assert "alice@example.com may not moderate dev" in refusal.get_content()


def test_reject_tells_the_author_and_a_second_decision_is_refused(
    server, session, sink, lists, publish, rsa_key
):
    raw, held = hold_one(server, session, subject="Buy now")
    publish("maint.example")
    sink.received.clear()
    reply = answer(held, "!reject Off-topic here; try the users list.\r\n")
    send_answer(server, held, sign(reply, "maint.example", rsa_key[0]))

    assert stored(session, msgid_of(raw)) == []
    [held] = held_rows(session)
    assert (held.status, held.decision_note) == ("rejected", "Off-topic here; try the users list.")
    [told] = sent_to(sink, ALICE)
    assert told["Subject"] == "Rejected: Buy now"
    assert told["In-Reply-To"] == f"<{msgid_of(raw)}>"
    assert "Reason: Off-topic here; try the users list." in told.get_content()

    sink.received.clear()
    again = answer(held, "!approve\r\n")
    send_answer(server, held, sign(again, "maint.example", rsa_key[0]))
    assert stored(session, msgid_of(raw)) == []
    [refusal] = sent_to(sink, MIA)
    assert "already rejected by mia@maint.example" in refusal.get_content()


def test_an_unknown_token_is_an_unknown_address(server):
    with smtplib.SMTP(*server.smtp_address, timeout=10) as client:
        client.ehlo()
        client.mail(MIA)
        code, text = client.rcpt(f"dev+moderate-{'0' * 32}@{DOMAIN}")
    assert code == 550 and text.startswith(b"5.1.1") and b"no such address" in text


# -- PGP -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mia_key():
    """An OpenPGP key for Mia: (armored public key, clearsign(text) -> signed block).

    The agent signing needs is stopped after every signature, and its home is not named
    like test_pgp's, whose last test looks for agents of its own left running."""
    home = tempfile.mkdtemp(prefix="moderator-gpg-")
    os.chmod(home, 0o700)
    gpg = gnupg.GPG(gnupghome=home)

    def clearsign(text: str) -> bytes:
        try:
            return gpg.sign(text.encode(), clearsign=True, keyid=key.fingerprint).data
        finally:
            stop_gnupg_daemons(home)

    try:
        key = gpg.gen_key(
            gpg.gen_key_input(
                key_type="EDDSA",
                key_curve="ed25519",
                key_usage="sign",
                name_email=MIA,
                expire_date="0",
                no_protection=True,
            )
        )
        assert key.fingerprint, key.stderr
        yield gpg.export_keys(key.fingerprint), clearsign
    finally:
        stop_gnupg_daemons(home)
        shutil.rmtree(home, ignore_errors=True)


def pgp_answer(held: HeldMessage, signed_block: bytes) -> bytes:
    return answer(held, "").replace(b"\r\n\r\n", b"\r\n\r\n" + signed_block, 1)


def test_approve_signed_with_the_moderators_registered_pgp_key_counts(
    server, session, sink, lists, mia_key
):
    armored, clearsign = mia_key
    add_pgp_key(session, MIA, armored)
    session.commit()
    raw, held = hold_one(server, session)
    sink.received.clear()
    block = clearsign(f"!approve\n\n> Held post: {held.token}\n")
    send_answer(server, held, pgp_answer(held, block))

    assert stored(session, msgid_of(raw))
    assert held_rows(session)[0].status == "approved"
    assert len(sent_to(sink, BOB)) == 1


def test_a_signed_approve_without_the_token_could_be_a_replay(
    server, session, sink, lists, mia_key
):
    armored, clearsign = mia_key
    add_pgp_key(session, MIA, armored)
    session.commit()
    raw, held = hold_one(server, session)
    sink.received.clear()
    send_answer(server, held, pgp_answer(held, clearsign("!approve\n")))
    assert stored(session, msgid_of(raw)) == []
    [refusal] = sent_to(sink, MIA)
    assert "does not cover the address" in refusal.get_content()


# -- expiry ----------------------------------------------------------------------------


def test_expiry_marks_posts_nobody_decided_on_and_tells_nobody(server, session, sink, lists):
    raw, held = hold_one(server, session, subject="Old")
    _, fresh = hold_one(server, session, subject="New")
    session.execute(
        update(HeldMessage)
        .where(HeldMessage.id == held.id)
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    session.commit()
    sink.received.clear()
    assert tasks.expire_held_task.delay().get() == 1
    old, new = held_rows(session)
    assert (old.status, old.decision_note) == ("expired", "nobody decided in time")
    assert new.status == "held"
    assert sink.received == []
    assert stored(session, msgid_of(raw)) == []
    schedule = celery_app.conf.beat_schedule["expire-held"]
    assert schedule["task"] == "mta.expire_held"


def test_moderation_days_sets_the_expiry(server, session, sink, lists):
    configure(session, lists["dev"], moderation_days=3)
    _, held = hold_one(server, session)
    assert held.expires_at - held.held_at == timedelta(days=3)


# -- finding the command ---------------------------------------------------------------


def test_a_command_is_found_anywhere_and_quoted_lines_never_act():
    assert find_command("Looks fine.\n\n  !approve  \n-- \nMia\n").action is Action.approve
    found = find_command("> !approve\n!reject Not for this list.\n")
    assert (found.action, found.reason) == (Action.reject, "Not for this list.")
    assert find_command("!important: read this\n!approve\n").action is Action.approve


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Sure, go ahead.\n> !approve\n", "no command found"),
        ("!approved\n", "not a command: '!approved'"),
        ("!approve\n!reject spam\n", "both !approve and !reject"),
        ("!reject\n", "!reject needs a reason"),
    ],
)
def test_what_is_not_a_clear_command(text, problem):
    with pytest.raises(CommandError) as error:
        find_command(text)
    assert problem in str(error.value)


def test_the_database_holds_a_post_once_per_list_whoever_races(session, lists):
    """Two intake processes holding the same post at the same moment: the second
    insert fails (its batch answers 451, and the retry finds the post held)."""
    from sqlalchemy.exc import IntegrityError

    now = utcnow()
    for token in ("a" * 32, "b" * 32):
        session.add(
            HeldMessage(
                list_id=lists["dev"],
                raw=b"x",
                message_id="race@example.com",
                token=token,
                held_at=now,
                expires_at=now,
            )
        )
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
