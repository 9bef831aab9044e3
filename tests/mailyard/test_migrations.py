"""Migrations carry existing data forward: a database made by an earlier release keeps
what it holds when it is upgraded."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, text

from mailyard.migrate import alembic_config


def upgrade(url: str, revision: str) -> None:
    config = alembic_config()
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def test_tracker_members_become_access_entries_with_every_tracker_right(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0004")
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO trackers (id, name, description, owner_email, created_at,"
                " last_number) VALUES (1, 'bugs', '', 'o@example.org', '2026-01-01', 0)"
            )
        )
        c.execute(
            text(
                "INSERT INTO tracker_members (tracker_id, address, role)"
                " VALUES (1, 'tri@example.org', 'triage')"
            )
        )
    upgrade(url, "head")
    with engine.connect() as c:
        rows = c.execute(text("SELECT scope, address_key, rights FROM access_entries")).all()
        visibility = c.execute(text("SELECT visibility, default_rights FROM trackers")).one()
    engine.dispose()
    assert rows == [("tracker:1", "tri@example.org", "browse,submit,comment,edit,triage")]
    assert tuple(visibility) == ("public", "browse,submit,comment")
