"""Alembic environment for the case database.

The connection is, in order: the one ``tickets.db.migrate`` hands in
(``config.attributes["connection"]``), ``config.attributes["url"]``, the ``sqlalchemy.url``
option (``tickets/alembic.ini``), else the Kizuki settings'
``cases_url`` (``KIZUKI_CASES__DB_URL``, ``kizuki.toml``, default SQLite file).
"""

from __future__ import annotations

from logging.config import fileConfig

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


def database_url() -> str:
    """Where to migrate when no connection is handed in (see the module docstring)."""
    config = context.config
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from kizuki.config import Settings

        url = Settings().cases_url
    from tickets.db import normalise_url

    return normalise_url(str(url))


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from tickets.db import make_engine

    engine = make_engine(database_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.config.config_file_name is not None:  # the CLI: logging from the .ini file
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)
run_online()
