"""Fixtures for the API tests: a real world and the app served by a real uvicorn.

One world per test module (building it migrates a database and hashes passwords);
tests that need a pristine case use ``fresh_case``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from tests.api.server import serve
from tests.api.world import World, build_world, open_case


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(tmp_path_factory.mktemp("world"))
    yield built
    built.close()


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
