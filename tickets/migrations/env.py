"""Alembic environment for the case database.

The connection is, in order: the one ``tickets.db.migrate`` hands in
(``config.attributes["connection"]``), ``config.attributes["url"]``, the ``sqlalchemy.url``
option (``tickets/alembic.ini``), else ``KIZUKI_CASES__DB_URL`` or the default SQLite file
under ``KIZUKI_DATA_DIR`` (``kizuki migrate`` reads ``kizuki.toml`` too and hands the URL in).
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import Connection

from tickets.db import make_engine, normalise_url
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
    if not url:  # the alembic CLI on its own: the settings' case DB, from the environment
        data_dir = Path(os.environ.get("KIZUKI_DATA_DIR", ".kizuki"))
        url = os.environ.get("KIZUKI_CASES__DB_URL") or f"sqlite:///{data_dir / 'cases.db'}"
    return normalise_url(str(url))


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(database_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.config.config_file_name is not None:  # the CLI: logging from the .ini file
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)
run_online()
