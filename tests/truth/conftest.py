"""The case-DB fixtures of tests/tickets (SQLite and PostgreSQL), for these tests too."""

from tests.tickets.conftest import (  # noqa: F401 - pytest fixtures
    clock,
    db_url,
    event,
    fleet,
    profiles,
    session_factory,
    settings,
)
