"""Migrations carry existing data forward: a database made by an earlier release keeps
what it holds when it is upgraded."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, text

from core.db import Base
from mailyard.migrate import alembic_config, include_object


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


def test_the_models_and_the_migrations_agree(settings):
    """Alembic's autogenerate finds nothing to do on a database the migrations made, on
    whichever database the suite runs (SQLite, or PostgreSQL in CI's second run)."""
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": include_object, "compare_type": True},
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_the_agreement_check_sees_a_difference():
    """The check above can fail: a column the migrations never made is found."""
    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    Table("outbox", metadata, Column("not_migrated", Integer), extend_existing=True)
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert [d[:2] for d in differences if d[0] == "add_column"] == [("add_column", None)]
