"""Status changes by mail, over real SMTP: honoured only for an authenticated sender who
may make them; anyone else gets a reply saying why, through the outbox and a real relay.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import tempfile
import uuid
from dataclasses import replace

import gnupg
import pytest
from sqlalchemy import select

from core.settings import use_settings
from mail.keys import add_pgp_key
from mail.pgp import stop_gnupg_daemons
from patchsets.models import Patchset, PatchsetEvent, PatchsetStatus, StatusRequest
from patchsets.status_mail import find_status_request
from tests.intake import sign
from tests.messages import DEV, make_message, send

OWNER = "owner@example.com"  # the `dev` list's owner (tests/mta/conftest.py)
SUBMITTER = "sam@submitters.example.net"
DIFF = (
    "---\r\n hello.txt | 1 +\r\n\r\n"
    "diff --git a/hello.txt b/hello.txt\r\n"
    "index e69de29..ce01362 100644\r\n"
    "--- a/hello.txt\r\n+++ b/hello.txt\r\n@@ -0,0 +1 @@\r\n+hello\r\n"
)


def test_status_request_comes_from_the_header_first_then_a_line_of_its_own():
    assert find_status_request("approved", "!status rejected\n") == "approved"
    assert find_status_request(None, "Looks good.\n\n!status approved\n-- \nsig\n") == "approved"
    assert find_status_request(None, "> !status approved\n") is None
    assert find_status_request(None, "please !status approved\n") is None
    assert find_status_request(None, "no request\n") is None


@pytest.fixture
def served(start_servers, relay_settings, session):
    """Intake on free ports, delivering outgoing mail to the sink."""
    return start_servers()


@pytest.fixture
def patch_id(served, session):
    """A one-patch patchset sent by SUBMITTER to `dev`: its Message-ID."""
    raw = make_message(
        subject="[PATCH] hello: add a greeting",
        from_=f"Sam <{SUBMITTER}>",
        body="Add a greeting.\r\n\r\nSigned-off-by: Sam <" + SUBMITTER + ">\r\n" + DIFF,
    )
    send(served.smtp_address, raw, sender=SUBMITTER)
    msgid = raw.split(b"Message-ID: <")[1].split(b">")[0].decode()
    assert patchset(session).name == "hello: add a greeting"
    return msgid


def patchset(session) -> Patchset:
    session.expire_all()
    return session.scalars(select(Patchset)).one()


def reply(patch_msgid: str, sender: str, body: str, extra=()) -> bytes:
    return make_message(
        subject="Re: [PATCH] hello: add a greeting",
        from_=sender,
        body=body,
        extra=(f"In-Reply-To: <{patch_msgid}>", f"References: <{patch_msgid}>", *extra),
    )


def sent_replies(sink) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(r.content, policy=email.policy.default) for r in sink.received]


def test_owner_with_aligned_dkim_approves(served, session, patch_id, publish, rsa_key, sink):
    publish("example.com")
    raw = sign(
        reply(patch_id, OWNER, "Thanks!\r\n\r\n!status approved\r\n"), "example.com", rsa_key[0]
    )
    send(served.smtp_address, raw, sender=OWNER)
    current = patchset(session)
    assert current.status is PatchsetStatus.approved
    assert current.status_by == OWNER
    (event,) = session.scalars(select(PatchsetEvent)).all()
    assert (event.via, event.actor, event.new_status) == ("email", OWNER, "approved")
    assert sink.received == []  # a change that worked needs no answer


def test_spoofed_owner_without_dkim_changes_nothing_and_is_told_why(
    served, session, patch_id, sink
):
    raw = reply(patch_id, OWNER, "!status approved\r\n")
    send(served.smtp_address, raw, sender=OWNER)
    assert patchset(session).status is PatchsetStatus.proposed
    assert session.scalars(select(PatchsetEvent)).all() == []
    (answer,) = sent_replies(sink)
    assert answer["To"] == OWNER
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["In-Reply-To"].strip("<>") in raw.decode()
    assert "not authenticated" in answer.get_content()
    (request,) = session.scalars(select(StatusRequest)).all()
    assert request.outcome.startswith("refused: ")


def test_signature_by_another_domain_does_not_authenticate(
    served, session, patch_id, publish, rsa_key, sink
):
    publish("elsewhere.example.org")
    raw = sign(reply(patch_id, OWNER, "!status approved\r\n"), "elsewhere.example.org", rsa_key[0])
    send(served.smtp_address, raw, sender=OWNER)
    assert patchset(session).status is PatchsetStatus.proposed
    assert "not authenticated" in sent_replies(sink)[0].get_content()


def test_submitter_may_ask_for_revision_by_header(served, session, patch_id, publish, rsa_key):
    publish("submitters.example.net")
    raw = reply(
        patch_id,
        SUBMITTER,
        "Will resend.\r\n",
        extra=("X-Mailyard-Patchset-Update: needs-revision",),
    )
    send(served.smtp_address, sign(raw, "submitters.example.net", rsa_key[0]), sender=SUBMITTER)
    assert patchset(session).status is PatchsetStatus.needs_revision


def test_submitter_may_not_approve_and_is_told(served, session, patch_id, publish, rsa_key, sink):
    publish("submitters.example.net")
    raw = reply(patch_id, SUBMITTER, "!status approved\r\n")
    send(served.smtp_address, sign(raw, "submitters.example.net", rsa_key[0]), sender=SUBMITTER)
    assert patchset(session).status is PatchsetStatus.proposed
    (answer,) = sent_replies(sink)
    assert "for the list owner" in answer.get_content()


def test_unknown_status_is_answered_with_the_valid_ones(
    served, session, patch_id, publish, rsa_key, sink
):
    publish("example.com")
    raw = sign(reply(patch_id, OWNER, "!status merged\r\n"), "example.com", rsa_key[0])
    send(served.smtp_address, raw, sender=OWNER)
    assert patchset(session).status is PatchsetStatus.proposed
    assert "valid: proposed, needs_revision" in sent_replies(sink)[0].get_content()


def test_reindex_neither_repeats_nor_forgets_a_mailed_request(
    served, session, patch_id, publish, rsa_key, sink, relay_settings
):
    from archive.importer import reindex

    publish("example.com")
    raw = sign(reply(patch_id, OWNER, "!status approved\r\n"), "example.com", rsa_key[0])
    send(served.smtp_address, raw, sender=OWNER)
    spoof = reply(patch_id, OWNER, "!status rejected\r\n")
    send(served.smtp_address, spoof, sender=OWNER)
    assert len(sink.received) == 1
    use_settings(replace(relay_settings))
    reindex(session)
    session.commit()
    assert patchset(session).status is PatchsetStatus.approved
    assert len(sink.received) == 1
    assert len(session.scalars(select(PatchsetEvent)).all()) == 1


def test_a_request_outside_any_patchset_is_answered(served, session, sink, publish, rsa_key):
    publish("example.com")
    raw = make_message(
        subject="Re: lunch",
        from_=OWNER,
        to=DEV,
        body="!status approved\r\n",
        extra=("In-Reply-To: <nothing@example.com>",),
    )
    send(served.smtp_address, sign(raw, "example.com", rsa_key[0]), sender=OWNER)
    assert "does not answer a patch" in sent_replies(sink)[0].get_content()


# --- PGP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def owner_key():
    """An OpenPGP key for the list owner: (armored public key, sign(bytes) -> signature)."""
    home = tempfile.mkdtemp(prefix="mailyard-test-gpg-")
    os.chmod(home, 0o700)
    gpg = gnupg.GPG(gnupghome=home)
    key = gpg.gen_key(
        gpg.gen_key_input(
            key_type="EDDSA",
            key_curve="ed25519",
            key_usage="sign",
            name_email=OWNER,
            expire_date="0",
            no_protection=True,
        )
    )
    try:
        yield (
            gpg.export_keys(key.fingerprint),
            (lambda data: str(gpg.sign(data, detach=True, keyid=key.fingerprint))),
        )
    finally:
        stop_gnupg_daemons(home)
        shutil.rmtree(home, ignore_errors=True)


def pgp_signed_reply(patch_msgid: str, text: str, sign_detached, extra: str = "") -> bytes:
    """A PGP/MIME reply from the owner, its text part signed (RFC 3156)."""
    part = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}".encode()
    signature = sign_detached(part)
    return (
        (
            f"From: {OWNER}\r\nTo: {DEV}\r\nSubject: Re: [PATCH] hello: add a greeting\r\n"
            "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\n"
            f"In-Reply-To: <{patch_msgid}>\r\nReferences: <{patch_msgid}>\r\n{extra}"
            "MIME-Version: 1.0\r\nContent-Type: multipart/signed; micalg=pgp-sha512;\r\n"
            ' protocol="application/pgp-signature"; boundary="sig"\r\n\r\n--sig\r\n'
        ).encode()
        + part
        + (
            "\r\n--sig\r\nContent-Type: application/pgp-signature\r\n\r\n"
            f"{signature}\r\n--sig--\r\n"
        ).encode()
    )


def test_owner_with_a_registered_pgp_key_approves(served, session, patch_id, owner_key, sink):
    armored, sign_detached = owner_key
    add_pgp_key(session, OWNER, armored)
    session.commit()
    # the signed text names its patchset (`mail.signed_commands`)
    text = f"Thanks.\r\n\r\n!status approved\r\nFor <{patch_id}>\r\n"
    raw = pgp_signed_reply(patch_id, text, sign_detached)
    send(served.smtp_address, raw, sender=OWNER)
    assert patchset(session).status is PatchsetStatus.approved
    (request,) = session.scalars(select(StatusRequest)).all()
    assert request.outcome == "applied (pgp)"


def test_pgp_signature_by_an_unregistered_key_does_not_count(served, session, patch_id, owner_key):
    _, sign_detached = owner_key
    raw = pgp_signed_reply(patch_id, "!status approved\r\n", sign_detached)
    send(served.smtp_address, raw, sender=OWNER)
    assert patchset(session).status is PatchsetStatus.proposed


def test_pgp_signed_mail_with_the_request_only_in_a_header_is_refused(
    served, session, patch_id, owner_key, sink
):
    armored, sign_detached = owner_key
    add_pgp_key(session, OWNER, armored)
    session.commit()
    raw = pgp_signed_reply(
        patch_id,
        "An old signed mail.\r\n",
        sign_detached,
        extra="X-Mailyard-Patchset-Update: approved\r\n",
    )
    send(served.smtp_address, raw, sender=OWNER)
    assert patchset(session).status is PatchsetStatus.proposed
    assert "does not cover mail headers" in sent_replies(sink)[0].get_content()
