"""Alembic environment: the URL comes from Mailyard's settings, not from alembic.ini."""

from alembic import context

from core.db import Base, get_engine
from mailyard.wiring import MODEL_MODULES

assert MODEL_MODULES  # importing them registers every table with Base.metadata

config = context.config


def run_migrations() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        with get_engine().connect() as connection:
            _run(connection)
            connection.commit()
    else:
        _run(connectable)


# The search index is made by hand in migrations (FTS5 or tsvector), not by models.
SEARCH_TABLES = ("message_fts", "message_search")


def _include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and name.startswith(SEARCH_TABLES))


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=_include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
