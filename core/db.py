"""The database engine, sessions and the declarative base every domain's models share.

SQLite runs in WAL mode with `synchronous=FULL`: a commit is on disk before intake
answers `250`, which is what the durability contract promises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTC_DT(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`, with SQLite tuned for concurrent readers and one writer."""
    if url.startswith("sqlite"):
        # pysqlite opens a transaction only at the first write, so readers never hold
        # a snapshot they would have to upgrade: no SQLITE_BUSY deadlocks between writers.
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


_engines: dict[str, Engine] = {}


def _engine_for(url: str) -> Engine:
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    return _engine_for((settings or get_settings()).database_url)


@cache
def _sessionmaker_for(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=_engine_for(url), expire_on_commit=False)


def new_session(settings: Settings | None = None) -> Session:
    return _sessionmaker_for((settings or get_settings()).database_url)()


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    session = new_session(settings)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def in_batches(step: Callable[[Session], int], settings: Settings | None = None) -> int:
    """Run `step` in a transaction of its own, again and again, until it does nothing;
    the total it did. For cleanups that work a batch at a time, so that no transaction
    holds the write lock for long."""
    total = 0
    while True:
        with session_scope(settings) as session:
            done = step(session)
        total += done
        if done == 0:
            return total


def dispose_engines() -> None:
    """Close pooled connections and forget engines (after fork, and between tests)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _sessionmaker_for.cache_clear()


# -- work that must wait for a commit ------------------------------------------------------

_AFTER_COMMIT = "core.db.after_commit"  # key in Session.info: {action: [items]}


def after_commit(session: Session, action: Callable[[list], None], item: object) -> None:
    """Hand `item` to `action` once the session's outermost transaction commits, with
    every other item gathered for that action meanwhile: how a change enqueues the work
    it causes (delivering its mail, ingesting a post) only if it was committed.

    A rollback forgets the items, and a later transaction of the same session does not
    run them. `action` never raises into the committing caller: the commit stands, so a
    failure is logged, and the sweeps find what was left.
    """
    pending = session.info.get(_AFTER_COMMIT)
    if pending is None:
        pending = session.info[_AFTER_COMMIT] = {}
        # Registered once per session; removing listeners while SQLAlchemy runs them is
        # not allowed, so they stay, and do nothing when nothing waits.
        event.listen(session, "after_commit", _run_after_commit)
        event.listen(session, "after_transaction_end", _forget_after_end)
    pending.setdefault(action, []).append(item)


def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT was released; the outer transaction may still roll back
    pending, session.info[_AFTER_COMMIT] = session.info[_AFTER_COMMIT], {}
    for action, items in pending.items():
        try:
            action(items)
        except Exception:  # noqa: BLE001  the commit succeeded; the sweeps pick it up
            log.exception("%s after a commit failed", action.__qualname__)


def _forget_after_end(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction committed or rolled back
        session.info[_AFTER_COMMIT] = {}
