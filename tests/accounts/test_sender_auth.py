"""Who a mail acts as (`accounts.sender_auth.mail_sender`), with real keys: gpg signatures and
dkimpy signatures checked against keys published in the test's DNS table."""

from __future__ import annotations

import os
import shutil
import tempfile

import gnupg
import pytest

from accounts.models import User, UserAddress
from accounts.pgp_keys import add_user_pgp_key
from accounts.sender_auth import mail_sender
from core.db import utcnow
from mail.pgp import stop_gnupg_daemons
from tests.intake import sign

ADA = "ada@work.example"  # confirmed, and named by Ada's key
HOME = "ada@home.example"  # confirmed too, but her key does not name it


@pytest.fixture(scope="module")
def keys():
    """Two keys naming Ada's work address: (armored public key, clearsign) of each; only
    the first gets registered."""
    home = tempfile.mkdtemp(prefix="sender-auth-gpg-")
    os.chmod(home, 0o700)
    gpg = gnupg.GPG(gnupghome=home)

    def signer(fingerprint: str):
        def clearsign(text: str) -> bytes:
            try:
                return gpg.sign(text.encode(), clearsign=True, keyid=fingerprint).data
            finally:
                stop_gnupg_daemons(home)

        return clearsign

    try:
        made = []
        for _ in range(2):
            key = gpg.gen_key(
                gpg.gen_key_input(
                    key_type="EDDSA",
                    key_curve="ed25519",
                    key_usage="sign",
                    name_email=ADA,
                    expire_date="0",
                    no_protection=True,
                )
            )
            assert key.fingerprint, key.stderr
            made.append((gpg.export_keys(key.fingerprint), signer(key.fingerprint)))
        yield made
    finally:
        stop_gnupg_daemons(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def ada(session, keys) -> User:
    user = User(username="ada", confirmed_at=utcnow())
    session.add(user)
    session.flush()
    for address in (ADA, HOME):
        session.add(
            UserAddress(
                user_id=user.id, address=address, address_key=address, confirmed_at=utcnow()
            )
        )
    session.flush()
    add_user_pgp_key(session, user, keys[0][0])
    session.commit()
    return user


def mail(sender: str, body: bytes) -> bytes:
    return (
        f"From: Ada <{sender}>\r\nTo: dev@lists.example.org\r\nSubject: hi\r\n"
        "Message-ID: <auth@example>\r\nDate: Mon, 01 Jan 2024 12:00:00 +0000\r\n\r\n"
    ).encode() + body


def test_a_signature_by_the_key_she_uploaded_makes_the_mail_hers(session, ada, keys):
    proven = mail_sender(session, ADA, mail(ADA, keys[0][1]("!approve\n")))
    assert proven.how == "pgp" and proven.actor.user_id == ada.id


def test_a_valid_signature_by_a_key_she_did_not_register_does_not(session, ada, keys):
    proven = mail_sender(session, ADA, mail(ADA, keys[1][1]("!approve\n")))
    assert proven.how is None and proven.actor.user_id is None
    assert proven.actor.addresses == {ADA}  # the bare address, nothing of her account


def test_her_key_counts_only_for_the_addresses_it_names(session, ada, keys):
    proven = mail_sender(session, HOME, mail(HOME, keys[0][1]("!approve\n")))
    assert proven.how is None and proven.actor.user_id is None


def test_a_dkim_pass_for_another_domain_does_not(session, ada, publish, rsa_key):
    publish("relay.example")
    raw = sign(mail(ADA, b"!approve\r\n"), "relay.example", rsa_key[0])
    proven = mail_sender(session, ADA, raw)
    assert proven.how is None and proven.actor.user_id is None


def test_an_aligned_dkim_pass_does(session, ada, publish, rsa_key):
    publish("work.example")
    raw = sign(mail(ADA, b"!approve\r\n"), "work.example", rsa_key[0])
    proven = mail_sender(session, ADA, raw)
    assert proven.how == "dkim" and proven.actor.user_id == ada.id
    assert proven.actor.addresses == {ADA, HOME}
