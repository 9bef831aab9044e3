"""A PGP-signed `!status` cannot be replayed, over real SMTP with real gpg: the signature
covers the text, not In-Reply-To or References, so the signed text must name its
patchset, and the same signed text acts once (`mail.signed_commands`). The positive
control: the signed approval naming its patchset approves it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.settings import get_settings
from mail.keys import add_pgp_key
from patchsets.models import Patchset, PatchsetStatus
from tests.accounts.helpers import pgp_signer
from tests.messages import DEV, make_message, send
from tests.patchsets.test_status_mail import DIFF, OWNER, SUBMITTER, sent_replies


@pytest.fixture
def served(start_servers, relay_settings, session):
    return start_servers()


@pytest.fixture(scope="module")
def clearsign():
    """The owner's key: (armored public key, clearsign(text) -> the signed block)."""
    with pgp_signer(OWNER) as signer:
        yield signer


def send_patch(served, subject: str) -> str:
    msgid = f"{uuid.uuid4().hex}@example.com"
    raw = make_message(
        subject=f"[PATCH] {subject}",
        from_=f"Sam <{SUBMITTER}>",
        message_id=msgid,
        body=f"{subject}.\r\n\r\nSigned-off-by: Sam <{SUBMITTER}>\r\n" + DIFF,
    )
    send(served.smtp_address, raw, sender=SUBMITTER)
    return msgid


def patchset_of(session, msgid: str) -> Patchset:
    session.expire_all()
    return session.scalars(select(Patchset).where(Patchset.first_message_id == msgid)).one()


def signed_reply(answered: str, block: str) -> bytes:
    """The owner's clearsigned block, in a mail pointed (by unsigned headers) at
    `answered`, under a new Message-ID."""
    return make_message(
        from_=OWNER,
        subject="Re: [PATCH]",
        extra=(f"In-Reply-To: <{answered}>", f"References: <{answered}>"),
        body=block.replace("\n", "\r\n"),
    )


@pytest.fixture
def two_patchsets(served, session, clearsign):
    armored, _ = clearsign
    add_pgp_key(session, OWNER, armored)
    session.commit()
    first = send_patch(served, "one: add a greeting")
    second = send_patch(served, "two: add a farewell")
    return first, second


def test_a_signed_approval_naming_its_patchset_approves_it(
    served, session, two_patchsets, clearsign
):
    first, _ = two_patchsets
    url = f"{get_settings().base_url}/dev/patches/{patchset_of(session, first).id}/"
    block = clearsign[1](f"Thanks.\n\n!status approved\n\nPatchset: {url}\n")
    send(served.smtp_address, signed_reply(first, block), sender=OWNER)
    assert patchset_of(session, first).status is PatchsetStatus.approved


def test_a_signed_approval_pointed_at_another_patchset_changes_nothing(
    served, session, sink, two_patchsets, clearsign
):
    first, second = two_patchsets
    url = f"{get_settings().base_url}/dev/patches/{patchset_of(session, first).id}/"
    block = clearsign[1](f"!status approved\n{url}\n")
    send(served.smtp_address, signed_reply(first, block), sender=OWNER)
    assert patchset_of(session, first).status is PatchsetStatus.approved
    sink.received.clear()

    # The same signed block, taken from the archive, re-sent in reply to the second.
    send(served.smtp_address, signed_reply(second, block), sender=OWNER)
    assert patchset_of(session, second).status is PatchsetStatus.proposed
    [answer] = sent_replies(sink)
    text = " ".join(answer.get_content().split())
    assert "must name what it acts on in the signed text" in text


def test_a_signed_approval_acts_once(served, session, sink, two_patchsets, clearsign):
    """Naming the patchset by the Message-ID of its mail works too; replaying it after
    the status moved on is refused as a reuse."""
    first, _ = two_patchsets
    block = clearsign[1](f"!status approved\n\nIn reply to <{first}>\n")
    send(served.smtp_address, signed_reply(first, block), sender=OWNER)
    assert patchset_of(session, first).status is PatchsetStatus.approved
    patchset = patchset_of(session, first)
    patchset.status = PatchsetStatus.proposed
    session.commit()
    sink.received.clear()

    send(served.smtp_address, signed_reply(first, block), sender=OWNER)
    assert patchset_of(session, first).status is PatchsetStatus.proposed
    [answer] = sent_replies(sink)
    assert "already been used once" in " ".join(answer.get_content().split())


def test_a_signed_approval_naming_nothing_is_refused(
    served, session, sink, two_patchsets, clearsign
):
    first, _ = two_patchsets
    block = clearsign[1]("Looks good.\n\n!status approved\n")
    send(served.smtp_address, signed_reply(first, block), sender=OWNER)
    assert patchset_of(session, first).status is PatchsetStatus.proposed
    [answer] = sent_replies(sink)
    text = " ".join(answer.get_content().split())
    assert f"/dev/patches/{patchset_of(session, first).id}/" in text  # says what to write
    assert DEV.split("@")[0] in text
