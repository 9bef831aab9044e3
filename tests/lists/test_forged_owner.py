"""A forged From of a list's owner, over real SMTP: mail that does not prove its From
acts as the bare address (`accounts.sender_auth`), which is nobody's account and owns
nothing. So it neither gets into a private list nor skips `moderation=all`; the same
mail signed by DKIM (the positive control) does both."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import select

from lists.models import HeldMessage
from tests.accounts.helpers import make_user
from tests.intake import sign
from tests.lists.test_post_rights import configure, post
from tests.messages import make_message, msgid_of, stored

OWNER = "owner@example.com"  # owns the lists of the `lists` fixture


@pytest.fixture
def server(start_servers, relay_settings, session, lists):
    make_user(session, "owner", OWNER)
    return start_servers(relay_url=relay_settings.relay_url)


def from_owner(subject: str) -> bytes:
    return make_message(from_=f"Owner <{OWNER}>", subject=subject)


def held(session, raw: bytes) -> bool:
    session.expire_all()
    found = session.scalar(select(HeldMessage.id).where(HeldMessage.message_id == msgid_of(raw)))
    return found is not None


def test_a_forged_owner_from_does_not_get_into_a_private_list(
    server, session, lists, publish, rsa_key
):
    configure(session, lists["dev"], visibility="private")
    forged = from_owner("Forged")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        post(server, forged, sender=OWNER)
    assert refused.value.smtp_code == 550
    assert "not authenticated" in " ".join(refused.value.smtp_error.decode().split())
    assert not stored(session, msgid_of(forged))

    publish("example.com")
    proven = sign(from_owner("Proven"), "example.com", rsa_key[0])
    post(server, proven, sender=OWNER)
    assert stored(session, msgid_of(proven))


def test_a_forged_owner_from_is_held_when_every_post_is_moderated(
    server, session, lists, publish, rsa_key
):
    configure(session, lists["dev"], moderation="all")
    forged = from_owner("Forged")
    post(server, forged, sender=OWNER)
    assert held(session, forged)
    assert not stored(session, msgid_of(forged))

    publish("example.com")
    proven = sign(from_owner("Proven"), "example.com", rsa_key[0])
    post(server, proven, sender=OWNER)
    assert stored(session, msgid_of(proven))
    assert not held(session, proven)


def test_an_owner_without_an_account_is_the_owner_once_dkim_proves_it(
    start_servers, relay_settings, session, lists, publish, rsa_key
):
    """The owner address needs no account: DKIM proves the mailbox itself."""
    server = start_servers(relay_url=relay_settings.relay_url)
    configure(session, lists["dev"], visibility="private", moderation="all")
    with pytest.raises(smtplib.SMTPDataError):
        post(server, from_owner("Forged"), sender=OWNER)
    publish("example.com")
    proven = sign(from_owner("Proven"), "example.com", rsa_key[0])
    post(server, proven, sender=OWNER)
    assert stored(session, msgid_of(proven))
