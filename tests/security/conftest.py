"""Fixtures for the attack replays: a real world served the way `kizuki api` serves it
(secret from the data directory, uvicorn without proxy headers), and a settable clock
for the log-in throttle."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from api.settings import AppConfig
from kizuki.config import Settings
from kizuki.runner import secured
from tests.api.server import serve
from tests.api.world import PASSWORD, World, build_world

__all__ = ["PASSWORD", "Clock", "csrf_of", "log_in", "shipped_settings"]


@dataclass
class Clock:
    """A settable wall clock (epoch seconds) for the throttle."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def shipped_settings(world: World, **api: Any) -> AppConfig:
    """The world's settings with no secret of the tests' own: as `kizuki api` starts with
    nothing configured, the secret comes from the data directory."""
    root = secured(Settings(data_dir=world.settings.tickets.outbox_dir.parent, api=api))
    tickets = dataclasses.replace(world.settings.tickets, secret_key=root.api.secret_key)
    return AppConfig(root.api, tickets)


def make_app(
    world: World, clock: Clock | None = None, same_secret: bool = False, **api: Any
) -> FastAPI:
    """The world's app; ``same_secret`` keeps the secret the world's case service signs
    feedback links with (otherwise the secret comes from the data directory)."""
    settings = world.settings if same_secret else shipped_settings(world, **api)
    return create_app(
        settings,
        world.session_factory,
        world.store,
        world.deadletters,
        case_service=world.service,
        clock=clock or time.time,
    )


@contextmanager
def served(
    world: World, clock: Clock | None = None, same_secret: bool = False, **api: Any
) -> Iterator[str]:
    with serve(make_app(world, clock, same_secret, **api)) as url:
        yield url


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(tmp_path_factory.mktemp("world"))
    yield built
    built.close()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def log_in(
    client: httpx.Client,
    username: str,
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Fill in and send the log-in form; the response (303 on success)."""
    form = client.get("/login", headers=headers)
    data = {"username": username, "password": password, "csrf_token": csrf_of(form.text)}
    return client.post("/login", data=data, headers=headers)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
