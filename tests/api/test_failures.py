"""When things break: a store that is down, a bug, the bootstrap admin key."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from api.main import create_app
from core.readings import Reading
from ingest.base import StoreUnavailable
from tests.api.server import serve
from tests.api.world import PASSWORD, World

HTML = {"Accept": "text/html"}


class DownStore:
    """A telemetry store whose backend is unreachable."""

    def write(self, readings: Sequence[Reading]) -> int:
        raise StoreUnavailable("connection refused")

    def query(self, *args: object, **kwargs: object) -> list[tuple[float, float]]:
        raise StoreUnavailable("connection refused")

    def latest(self, device_id: str) -> Reading | None:
        raise StoreUnavailable("connection refused")

    def close(self) -> None: ...


class BuggyStore(DownStore):
    """A store with a bug: it raises something nobody expects."""

    def latest(self, device_id: str) -> Reading | None:
        raise ZeroDivisionError("oops")


def app_over(store: object, world: World) -> FastAPI:
    """The test world's app over a different telemetry store."""
    return create_app(
        world.settings,
        world.session_factory,
        store,
        world.deadletters,  # type: ignore[arg-type]
        case_service=world.service,
    )


def test_a_store_outage_is_503_and_readyz_says_so(world: World) -> None:
    app = app_over(DownStore(), world)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        headers = {"X-API-Key": world.keys["viewer"]}
        response = client.get("/api/v1/devices/ac-00001", headers=headers)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["telemetry_store"] is False
        assert client.get("/api/v1/cases", headers=headers).status_code == 200


def test_a_bug_is_a_500_problem_without_traceback(world: World) -> None:
    app = app_over(BuggyStore(), world)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        headers = {"X-API-Key": world.keys["viewer"]}
        response = client.get("/api/v1/devices", headers=headers)
        assert response.status_code == 500
        assert response.json()["title"] == "Internal Server Error"
        assert "oops" not in response.text and "Traceback" not in response.text
        # the same keep-alive connection still serves the next request
        assert client.get("/api/v1/cases", headers=headers).status_code == 200


def test_a_bug_behind_a_page_is_an_error_page_in_the_users_language(world: World) -> None:
    app = app_over(BuggyStore(), world)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        form = client.get("/login", headers=HTML).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        data = {"username": "viewer", "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=data).status_code == 303
        page = client.get("/devices/ac-00001?lang=ja", headers=HTML)
        assert page.status_code == 500
        assert page.headers["content-type"].startswith("text/html")
        assert "500 · システムエラーが発生しました" in page.text
        assert "oops" not in page.text and "Traceback" not in page.text
        assert "viewer" in page.text  # the header still knows who is logged in


def test_the_bootstrap_admin_key_from_settings_works(world: World) -> None:
    api = world.settings.api.model_copy(update={"admin_api_key": SecretStr("let-me-in-0123")})
    settings = dataclasses.replace(world.settings, api=api)
    app = create_app(
        settings, world.session_factory, world.store, world.deadletters, case_service=world.service
    )
    create_app(
        settings, world.session_factory, world.store, world.deadletters, case_service=world.service
    )  # a restart must not trip over the existing key
    with serve(app) as url, httpx.Client(base_url=url) as client:
        response = client.get("/api/v1/dead-letters", headers={"X-API-Key": "let-me-in-0123"})
        assert response.status_code == 200
