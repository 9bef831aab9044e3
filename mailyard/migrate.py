"""Bring a database to the newest schema with Alembic (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from core.db import get_engine
from core.settings import Settings, get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


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
