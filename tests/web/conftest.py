"""Fixtures for the web archive: the Flask app on the test database, and a helper that
seeds lists and messages through the real intake path (store, then ingest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from accounts.users import create_user
from archive.ingest import ingest_messages
from archive.models import MailingList
from archive.store import store_message
from lists.manage import create_list
from mailyard.wiring import BLUEPRINTS
from web.app import create_app

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def make_mail(
    msgid: str,
    subject: str,
    parents: tuple[str, ...] = (),
    body: str = "hello\n",
    date: datetime = START,
    sender: str = "Ada Lovelace <ada@example.com>",
    to: str = "dev@lists.example.org",
    headers: str = "",
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    """A small RFC 5322 message; `parents` oldest first, the last one replied to."""
    refs = ""
    if parents:
        refs = f"In-Reply-To: <{parents[-1]}>\nReferences: {' '.join(f'<{p}>' for p in parents)}\n"
    return (
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: {format_datetime(date)}\n"
        f"Message-ID: <{msgid}>\n{refs}{headers}MIME-Version: 1.0\n"
        f"Content-Type: {content_type}\n\n{body}"
    ).encode()


class Seeder:
    """Builds lists and delivers messages to them; each message is dated a minute after
    the one before unless told otherwise, so orders are deterministic."""

    def __init__(self, session) -> None:
        self.session = session
        self.clock = START
        self.raw: dict[str, bytes] = {}

    def make_list(self, name: str, description: str = "") -> MailingList:
        mlist = create_list(self.session, name, "owner@example.com", description)
        self.session.commit()
        return mlist

    def post(
        self,
        lists: MailingList | list[MailingList],
        msgid: str,
        subject: str = "topic",
        parents: tuple[str, ...] = (),
        raw: bytes | None = None,
        **kwargs,
    ) -> bytes:
        lists = lists if isinstance(lists, list) else [lists]
        self.clock += timedelta(minutes=1)
        kwargs.setdefault("date", self.clock)
        raw = raw if raw is not None else make_mail(msgid, subject, parents, **kwargs)
        result = store_message(
            self.session, raw, msgid, [m.id for m in lists], received_at=self.clock
        )
        if result.message_pk is not None:
            ingest_messages(self.session, [result.message_pk])
        self.session.commit()
        self.raw[msgid] = raw
        return raw


@pytest.fixture
def seed(session) -> Seeder:
    return Seeder(session)


@pytest.fixture
def app(settings):
    app = create_app(settings, BLUEPRINTS)
    app.testing = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


PASSWORD = "a long enough password"  # what the `ada` fixture signs in with
NEW_PASSWORD = "another long password"


@pytest.fixture
def ada(session):
    """An account with a password, `ada` at ada@example.org, not signed in."""
    user = create_user(session, "ada", "ada@example.org", password=PASSWORD)
    session.commit()
    return user
