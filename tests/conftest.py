"""Fixtures that build real things: a migrated database, settings in a temp directory.

The suite runs on SQLite by default. With MAILYARD_TEST_DATABASE_URL set to a
PostgreSQL URL (and MAILYARD_TEST_BROKER_URL to a Redis URL) it runs on those instead,
one database per pytest-xdist worker, emptied before every test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core.db import Base, dispose_engines, new_session
from core.settings import Settings, complete, use_settings
from mailyard.celery_app import app as _celery_app  # noqa: F401  installs the wiring; tasks run on it
from mailyard.migrate import upgrade_database
from tests.smtp_sink import SinkHandler, free_port

TEST_DATABASE_URL = os.environ.get("MAILYARD_TEST_DATABASE_URL", "")
TEST_BROKER_URL = os.environ.get("MAILYARD_TEST_BROKER_URL", "")
DOMAIN = "lists.example.org"


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _worker_number() -> int:
    return int("".join(c for c in _worker() if c.isdigit()) or 0)


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """A database of this worker's own on the test PostgreSQL, or None on SQLite runs."""
    if not TEST_DATABASE_URL:
        return None
    base = make_url(TEST_DATABASE_URL)
    name = f"{base.database}_mailyard_{_worker()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001
        pytest.exit(f"cannot create a test database on {TEST_DATABASE_URL}: {e}", 2)
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def broker_url() -> str | None:
    if not TEST_BROKER_URL:
        return None
    url = make_url(TEST_BROKER_URL.replace("redis://", "redis+x://", 1))
    db = 1 + _worker_number()
    return f"redis://{url.host or '127.0.0.1'}:{url.port or 6379}/{db}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file per worker; each test gets a copy (faster than migrating)."""
    data_dir = tmp_path_factory.mktemp("template")
    settings = use_settings(Settings(data_dir=data_dir, domain=DOMAIN))
    upgrade_database(settings)
    dispose_engines()
    return data_dir / "mailyard.db"


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        extra = ", message_search" if _has_table(c, "message_search") else ""
        c.execute(text(f"TRUNCATE {tables}{extra} RESTART IDENTITY CASCADE"))
    engine.dispose()


def _has_table(conn, name: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None


def _fresh_settings(data_dir: Path, request, postgres_url, broker_url) -> Settings:
    """Settings in `data_dir` (made here) with an empty, migrated database."""
    data_dir.mkdir()
    if postgres_url:
        database_url = postgres_url
    else:
        template = request.getfixturevalue("_sqlite_template")
        shutil.copy(template, data_dir / "mailyard.db")
        database_url = f"sqlite:///{data_dir / 'mailyard.db'}"
    current = use_settings(
        complete(
            Settings(
                data_dir=data_dir,
                database_url=database_url,
                broker_url=broker_url or "",
                domain=DOMAIN,
                base_url="http://archive.example.org",
                # A port of its own per test: parallel tests never share 2587.
                submission_listen="127.0.0.1:0",
                tasks_eager=True,
            )
        )
    )
    upgrade_database(current)
    if postgres_url:
        _empty_postgres(postgres_url)
    return current


@pytest.fixture
def settings(tmp_path, request, postgres_url, broker_url) -> Iterator[Settings]:
    """Settings for one test: its own data directory and an empty, migrated database."""
    yield _fresh_settings(tmp_path / "data", request, postgres_url, broker_url)
    dispose_engines()


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory, request, postgres_url, broker_url) -> Iterator[Settings]:
    """As `settings`, shared by a module's tests (a served instance started once for
    them all). A module that uses it must not use `settings` as well: each empties the
    same database."""
    data_dir = tmp_path_factory.mktemp("module") / "data"
    yield _fresh_settings(data_dir, request, postgres_url, broker_url)
    dispose_engines()


@pytest.fixture
def session(settings) -> Iterator[Session]:
    s = new_session(settings)
    yield s
    s.close()


# --- a relay sink for outgoing mail ---------------------------------------------------


@pytest.fixture(scope="module")
def relay() -> Iterator[tuple[Controller, int]]:
    port = free_port()
    """A real SMTP server on a free port, shared by a module's tests."""
    controller = Controller(
        SinkHandler(), hostname="127.0.0.1", port=port, server_hostname="relay.test"
    )
    controller.start()
    yield controller, port
    controller.stop()


@pytest.fixture
def sink(relay) -> SinkHandler:
    controller, _ = relay
    controller.handler.received.clear()
    controller.handler.defer = 0
    controller.handler.unknown = set()
    return controller.handler


@pytest.fixture
def relay_settings(settings, relay) -> Settings:
    """The test's settings, sending through the sink."""
    return use_settings(replace(settings, relay_url=f"smtp://127.0.0.1:{relay[1]}"))
