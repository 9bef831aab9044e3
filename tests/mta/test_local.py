"""Mail Mailyard sends to its own addresses (`mta.local`, through `mail.local_intake`):
judged and stored as SMTP intake would, in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select

from archive.models import Message
from lists.manage import change_list_settings, create_list
from mail.local_intake import deliver_locally
from mail.policy import Outcome
from tests.accounts.helpers import make_user

MAIL = (
    b"From: zoe <zoe@outside.net>\r\nTo: dev@lists.example.org\r\nSubject: hello\r\n"
    b"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <local-1@example.org>\r\n\r\nHi.\r\n"
)


def _deliver(session, settings, *recipients: str):
    return deliver_locally(
        session, settings, MAIL, sender="zoe@outside.net", recipients=recipients, proven_by="web"
    )


def test_a_list_here_archives_it_once_committed_and_an_unknown_address_is_refused(
    session, settings
) -> None:
    create_list(session, "dev", "owner@example.com")
    make_user(session, "zoe", "zoe@outside.net")
    session.commit()
    accepted, unknown = _deliver(
        session, settings, "dev@lists.example.org", "nope@lists.example.org"
    )
    assert accepted.outcome is Outcome.ACCEPT
    assert unknown.outcome is Outcome.REJECT and "nope@lists.example.org" in unknown.detail
    session.rollback()  # nothing stored outlives the caller's transaction
    assert (
        session.scalar(select(Message).where(Message.message_id == "local-1@example.org")) is None
    )
    _deliver(session, settings, "dev@lists.example.org")
    session.commit()
    assert session.scalar(select(Message).where(Message.message_id == "local-1@example.org"))


def test_a_moderated_list_holds_it(session, settings) -> None:
    mlist = create_list(session, "dev", "owner@example.com")
    change_list_settings(session, mlist, moderation="all")
    make_user(session, "zoe", "zoe@outside.net")
    session.commit()
    [held] = _deliver(session, settings, "dev@lists.example.org")
    assert held.outcome is Outcome.HOLD
