"""Fixtures for the API tests: a real world and the app served by a real uvicorn.

One world per test module (building it migrates a database and hashes passwords);
tests that need a pristine case use ``fresh_case``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from api.main import create_app
from tests.api.server import serve
from tests.api.world import World, build_world, open_case
from tests.conftest import POSTGRES_URL
from tickets.db import make_engine


@contextmanager
def world_on(backend: str, tmp: Path) -> Iterator[World]:
    """A world whose case DB is SQLite, or a private schema in the test PostgreSQL."""
    if backend == "sqlite":
        built = build_world(tmp)
        yield built
        built.close()
        return
    schema = f"kz_api_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        built = build_world(tmp, f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}")
        yield built
        built.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def world_on_both_backends() -> Any:
    """A module-scoped ``world`` fixture run once on SQLite and once on PostgreSQL."""

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"], name="world")
    def both(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[World]:
        with world_on(request.param, tmp_path_factory.mktemp("world")) as built:
            yield built

    return both


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on("sqlite", tmp_path_factory.mktemp("world")) as built:
        yield built


@pytest.fixture(scope="module")
def app(world: World) -> FastAPI:
    return create_app(
        world.settings,
        world.session_factory,
        world.store,
        world.deadletters,
        case_service=world.service,
    )


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


@pytest.fixture
def fresh_case(world: World) -> int:
    """A newly opened case on a device of its own (status open, untouched)."""
    return open_case(world)
