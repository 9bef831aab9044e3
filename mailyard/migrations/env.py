"""Alembic environment: the URL comes from Mailyard's settings, not from alembic.ini."""

from alembic import context

from core.db import Base, get_engine
from mailyard.migrate import include_object
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


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
