"""Alembic environment: runs on the connection ``tickets.db.migrate`` hands in, or on
``config.attributes["url"]`` when invoked another way."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from tickets.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from tickets.db import make_engine

    engine = make_engine(context.config.attributes["url"])
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


run_online()
