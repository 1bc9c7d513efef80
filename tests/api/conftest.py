"""Fixtures for the API tests: a real world and the app served by a real uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from tests.api.server import serve
from tests.api.world import World, build_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path)
    yield built
    built.close()


@pytest.fixture
def app(world: World) -> FastAPI:
    return create_app(
        world.settings,
        world.session_factory,
        world.store,
        world.deadletters,
        case_service=world.service,
    )


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c
