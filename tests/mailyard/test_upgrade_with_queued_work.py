"""A database the code before the floors were split left with work queued (schema 0005,
`tests/fixtures/schema-0005.db.gz`, made by that code: see the script beside it) is
upgraded, served, delivered and moderated by this code, with nothing lost or sent twice."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import replace
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from archive import tasks as archive_tasks
from archive.models import Message, MessageStatus
from core.db import dispose_engines, new_session
from core.settings import use_settings
from lists.models import HeldMessage, HeldStatus
from lists.moderation import approve_held
from mail import tasks as mail_tasks
from mail.models import OutboxMessage, OutboxStatus
from mailyard.migrate import upgrade_database
from mailyard.wiring import BLUEPRINTS
from web.app import create_app

# Task modules, not the tasks: pytest looks at a test module's names while collecting it,
# and touching a shared task would configure Celery before the tests' settings exist.
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema-0005.db.gz"


@pytest.fixture
def old_database(relay_settings, tmp_path):
    """The test's settings, on a copy of the old database upgraded to this schema."""
    path = tmp_path / "old.db"
    with gzip.open(FIXTURE, "rb") as packed, open(path, "wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0005"
    engine.dispose()
    dispose_engines()
    settings = use_settings(replace(relay_settings, database_url=f"sqlite:///{path}"))
    upgrade_database(settings)
    yield settings
    dispose_engines()


def copies_to(sink, address: str) -> list:
    return [message_from_bytes(r.content) for r in sink.received if address in r.rcpt_tos]


def test_the_queued_copies_and_notice_are_delivered_once(old_database, sink):
    session = new_session(old_database)
    kinds = dict(session.execute(select(OutboxMessage.id, OutboxMessage.kind)).all())
    assert kinds == {1: "list-post", 2: "list-post", 3: "mail"}
    session.close()
    assert mail_tasks.sweep_outbox() == 3
    to_bob = copies_to(sink, "bob@example.org")
    assert sorted(m["Subject"] for m in to_bob) == ["First post", "Second post"]
    assert all(m["List-Id"].endswith("<dev.lists.example.org>") for m in to_bob)
    [notice] = copies_to(sink, "owner@example.com")
    assert "Held for moderation" in notice["Subject"]
    assert mail_tasks.sweep_outbox() == 0  # nothing is sent twice
    assert len(sink.received) == 3
    session = new_session(old_database)
    statuses = set(session.scalars(select(OutboxMessage.status)))
    session.close()
    assert statuses == {OutboxStatus.sent}


def test_a_stored_message_never_ingested_is_ingested_and_served(old_database):
    assert archive_tasks.sweep_pending(0) == 1
    session = new_session(old_database)
    statuses = dict(session.execute(select(Message.message_id, Message.status)).all())
    session.close()
    assert statuses == {
        "first@example.org": MessageStatus.archived,
        "second@example.org": MessageStatus.archived,
    }
    page = create_app(old_database, BLUEPRINTS).test_client().get("/dev/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "First post" in html and "Second post" in html


def test_the_held_post_is_approved_archived_and_delivered(old_database, sink):
    session = new_session(old_database)
    held = session.scalars(select(HeldMessage)).one()
    assert held.status is HeldStatus.held
    message_pk = approve_held(session, old_database, held, by="owner@example.com")
    session.commit()
    assert message_pk is not None
    assert session.get(HeldMessage, held.id).status is HeldStatus.approved
    session.close()
    mail_tasks.sweep_outbox()
    [copy] = copies_to(sink, "carol@example.org")
    assert copy["Subject"] == "Held post"
    assert copy["List-Id"].endswith("<mod.lists.example.org>")
