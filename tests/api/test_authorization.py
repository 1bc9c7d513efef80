"""Who may do what: every route of the app (API, pages, forms) for nobody, viewer, agent
and admin, from the table in ``tests.api.roles``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from tests.api.roles import API, EVERY_ROW, PAGES, PUBLIC, ROLES, Row, app_routes
from tests.api.world import PASSWORD, World
from tickets.registry import schedule_maintenance

HTML = {"Accept": "text/html"}


def _fresh_window(world: World) -> int:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    return schedule_maintenance(
        world.session_factory, "ac-00001", start, start + timedelta(hours=1)
    )


def _url(row: Row, world: World) -> str:
    return row.url.format(
        window_id=_fresh_window(world) if "{window_id}" in row.url else 0,
        agent_id=1,
        username="viewer",
        case_id=world.cases["filter"],
        prefix=world.keys["spare"].split("_")[1],
        device_id="ac-00001",
        customer_id="c-0001",
        article_id="ac-filter-clog",
    )


def _call(client: httpx.Client, world: World, row: Row, headers: dict[str, str]) -> httpx.Response:
    return client.request(row.method, _url(row, world), json=row.body, headers=headers)


def _is_problem(response: httpx.Response, status: int) -> bool:
    body = response.json()
    return (
        response.headers["content-type"].startswith("application/problem+json")
        and body["status"] == status
        and "Traceback" not in response.text
    )


def test_the_table_covers_every_route_of_the_app(app: FastAPI) -> None:
    served = app_routes(app)
    listed = {(row.method, row.template) for row in EVERY_ROW}
    assert served - listed == set(), "routes without a row in tests/api/roles.py"
    assert listed - served == set(), "rows for routes the app does not serve"
    assert len(served) >= 40


@pytest.mark.parametrize("row", API, ids=lambda r: f"{r.method} {r.url}")
def test_nobody_gets_401(client: httpx.Client, world: World, row: Row) -> None:
    response = _call(client, world, row, {})
    assert response.status_code == 401
    assert _is_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("row", API, ids=lambda r: f"{r.method} {r.url}")
@pytest.mark.parametrize("role", ROLES)
def test_each_role_on_each_endpoint(
    client: httpx.Client, world: World, row: Row, role: str
) -> None:
    response = _call(client, world, row, {"X-API-Key": world.keys[role]})
    if not row.allows(role):
        assert response.status_code == 403, response.text
        assert _is_problem(response, 403)
    else:
        # allowed: it may still be refused for business reasons (409), never for auth
        assert response.status_code in (200, 201, 204, 409), response.text


def _stranger(base_url: str) -> tuple[httpx.Client, str]:
    """A browser with a session but nobody logged in (it has seen the login form)."""
    client = httpx.Client(base_url=base_url, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    return client, token.group(1)


def _log_in(base_url: str, role: str) -> tuple[httpx.Client, str]:
    client, token = _stranger(base_url)
    data = {"username": role, "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=data).status_code == 303
    page = client.get("/cases", headers=HTML).text
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert fresh
    return client, fresh.group(1)


@pytest.fixture(scope="module")
def sessions(base_url: str) -> Iterator[dict[str, tuple[httpx.Client, str]]]:
    """A logged-in browser session (client, CSRF token) per role, and one for nobody."""
    made = {role: _log_in(base_url, role) for role in ROLES}
    made["nobody"] = _stranger(base_url)
    yield made
    for client, _ in made.values():
        client.close()


def _send(client: httpx.Client, world: World, row: Row, token: str) -> httpx.Response:
    case_id = str(world.cases["filter"])
    form = {
        k: v.replace("{csrf}", token).replace("{case_id}", case_id)
        for k, v in (row.body or {}).items()
    }
    return client.request(row.method, _url(row, world), data=form or None, headers=HTML)


@pytest.mark.parametrize("row", PAGES, ids=lambda r: f"{r.method} {r.url}")
@pytest.mark.parametrize("who", ("nobody", *ROLES))
def test_each_role_on_each_page_and_form(
    sessions: dict[str, tuple[httpx.Client, str]], world: World, row: Row, who: str
) -> None:
    client, token = sessions[who]
    response = _send(client, world, row, token)
    if who == "nobody":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=%2F")
    elif not row.allows(who):
        assert response.status_code == 403 and "<html" in response.text
    else:
        assert response.status_code in (200, 303, 409), response.text[:300]
        assert not response.headers.get("location", "").startswith("/login")


@pytest.mark.parametrize("row", PUBLIC, ids=lambda r: f"{r.method} {r.url}")
@pytest.mark.parametrize("who", ("nobody", *ROLES))
def test_public_routes_need_no_credentials(
    base_url: str, sessions: dict[str, tuple[httpx.Client, str]], world: World, row: Row, who: str
) -> None:
    if row.template == "/logout":  # logging out would end the shared session
        own, token = _log_in(base_url, who) if who != "nobody" else _stranger(base_url)
        response = _send(own, world, row, token)
        own.close()
    else:
        response = _send(sessions[who][0], world, row, sessions[who][1])
    assert response.status_code in row.public_codes, response.text[:300]
    assert not response.headers.get("location", "").startswith("/login?next")


def test_the_route_walk_sees_nested_routers_and_mounts() -> None:
    inner, outer, app = APIRouter(prefix="/inner"), APIRouter(prefix="/outer"), FastAPI()
    inner.add_api_route("/x/{id}", lambda id: id, methods=["PATCH"])
    outer.include_router(inner)
    app.include_router(outer, prefix="/v9")
    app.mount("/files", StaticFiles(directory=Path(__file__).parent))
    found = app_routes(app)
    assert ("PATCH", "/v9/outer/inner/x/{id}") in found
    assert ("GET", "/files/{path}") in found


def test_viewer_cannot_act_on_a_case_and_nothing_changes(
    client: httpx.Client, world: World, fresh_case: int
) -> None:
    headers = {"X-API-Key": world.keys["viewer"]}
    for action in ("acknowledge", "start", "resolve", "close", "reopen", "notes", "assign"):
        body = {"text": "x", "agent_id": 1}
        response = client.post(f"/api/v1/cases/{fresh_case}/{action}", json=body, headers=headers)
        assert response.status_code == 403
    detail = client.get(f"/api/v1/cases/{fresh_case}", headers=headers).json()
    assert detail["status"] == "open"
    assert [e["kind"] for e in detail["timeline"]] == ["opened", "assigned"]


def test_bearer_token_works_like_the_header(client: httpx.Client, world: World) -> None:
    response = client.get(
        "/api/v1/cases", headers={"Authorization": f"Bearer {world.keys['viewer']}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("key", ["nonsense", "kz_00000000_guessed", ""])
def test_unknown_keys_are_401(client: httpx.Client, key: str) -> None:
    response = client.get("/api/v1/cases", headers={"X-API-Key": key})
    assert response.status_code == 401
    assert _is_problem(response, 401)


def test_a_revoked_key_stops_working(client: httpx.Client, world: World) -> None:
    admin = {"X-API-Key": world.keys["admin"]}
    created = client.post("/api/v1/api-keys", json={"name": "temp", "role": "agent"}, headers=admin)
    key = created.json()["key"]
    assert client.get("/api/v1/customers", headers={"X-API-Key": key}).status_code == 200
    prefix = key.split("_")[1]
    assert client.delete(f"/api/v1/api-keys/{prefix}", headers=admin).status_code == 204
    assert client.get("/api/v1/customers", headers={"X-API-Key": key}).status_code == 401
    listed = client.get("/api/v1/api-keys", headers=admin).json()["data"]
    assert key not in str(listed)
    assert [k["revoked_at"] is not None for k in listed if k["prefix"] == prefix] == [True]
    assert [k["last_used_at"] is not None for k in listed if k["prefix"] == prefix] == [True]


def test_health_and_metrics_need_no_credentials(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "kizuki_cases_opened_total" in metrics.text
