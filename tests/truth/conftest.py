"""The case-DB fixtures of tests/tickets (SQLite and PostgreSQL), and the real API world
and server of tests/api, for these tests too."""

from tests.api.conftest import app, base_url, client, world  # noqa: F401 - pytest fixtures
from tests.tickets.conftest import (  # noqa: F401 - pytest fixtures
    clock,
    db_url,
    event,
    fleet,
    profiles,
    session_factory,
    settings,
)
