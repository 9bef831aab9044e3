"""Bring a database to the newest schema with Alembic (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from core.db import get_engine
from core.settings import Settings, get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


# The search index is made by hand in migrations (FTS5 or tsvector), not by models.
SEARCH_TABLES = ("message_fts", "message_search")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """What Alembic compares with the models: everything but the search index."""
    return not (type_ == "table" and name.startswith(SEARCH_TABLES))


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade_database(settings: Settings | None = None) -> None:
    """Create or upgrade every table; safe to run on every start."""
    settings = settings or get_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = alembic_config()
    with get_engine(settings).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
