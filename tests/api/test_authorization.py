"""Who may do what: every API endpoint for nobody, viewer, agent and admin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.world import World

ROLES = ("viewer", "agent", "admin")
NEEDS: dict[str, int] = {"viewer": 0, "agent": 1, "admin": 2}

# (method, path, least role, JSON body); {case_id} is a case the world opened
TABLE: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/devices", "viewer", None),
    ("GET", "/api/v1/devices/{device_id}", "viewer", None),
    ("GET", "/api/v1/devices/{device_id}/telemetry?metric=filter_dp_pa", "viewer", None),
    ("GET", "/api/v1/anomalies", "viewer", None),
    ("GET", "/api/v1/cases", "viewer", None),
    ("GET", "/api/v1/cases/{case_id}", "viewer", None),
    ("POST", "/api/v1/cases/{case_id}/acknowledge", "agent", None),
    ("POST", "/api/v1/cases/{case_id}/assign", "agent", {"agent_id": 1}),
    ("POST", "/api/v1/cases/{case_id}/start", "agent", None),
    ("POST", "/api/v1/cases/{case_id}/notes", "agent", {"text": "checked"}),
    ("POST", "/api/v1/cases/{case_id}/resolve", "agent", {"note": "fixed"}),
    ("POST", "/api/v1/cases/{case_id}/close", "agent", {}),
    ("POST", "/api/v1/cases/{case_id}/reopen", "agent", {}),
    ("GET", "/api/v1/customers", "agent", None),
    ("GET", "/api/v1/customers/{customer_id}", "agent", None),
    ("GET", "/api/v1/agents", "viewer", None),
    ("GET", "/api/v1/kb", "viewer", None),
    ("GET", "/api/v1/kb/{article_id}", "viewer", None),
    ("GET", "/api/v1/dead-letters", "admin", None),
    ("GET", "/api/v1/api-keys", "admin", None),
    ("POST", "/api/v1/api-keys", "admin", {"name": "ci", "role": "viewer"}),
    ("DELETE", "/api/v1/api-keys/{prefix}", "admin", None),
]
IDS = [f"{m} {p}" for m, p, _, _ in TABLE]


def _call(
    client: httpx.Client,
    world: World,
    row: tuple[str, str, str, dict[str, Any] | None],
    headers: dict[str, str],
) -> httpx.Response:
    method, path, _, body = row
    prefix = world.keys["spare"].split("_")[1]
    url = path.format(
        case_id=world.cases["filter"],
        prefix=prefix,
        device_id="ac-00001",
        customer_id="c-0001",
        article_id="ac-filter-clog",
    )
    return client.request(method, url, json=body, headers=headers)


def _is_problem(response: httpx.Response, status: int) -> bool:
    body = response.json()
    return (
        response.headers["content-type"].startswith("application/problem+json")
        and body["status"] == status
        and "Traceback" not in response.text
    )


def test_the_table_covers_every_api_endpoint(app: FastAPI) -> None:
    listed = {(m, p.split("?")[0].replace("{case_id}", "{case_id}")) for m, p, _, _ in TABLE}
    listed = {(m, p.replace("{prefix}", "{prefix}")) for m, p in listed}
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    assert documented == listed


@pytest.mark.parametrize("row", TABLE, ids=IDS)
def test_nobody_gets_401(client: httpx.Client, world: World, row: Any) -> None:
    response = _call(client, world, row, {})
    assert response.status_code == 401
    assert _is_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("row", TABLE, ids=IDS)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_on_each_endpoint(
    client: httpx.Client, world: World, row: Any, role: str
) -> None:
    response = _call(client, world, row, {"X-API-Key": world.keys[role]})
    if NEEDS[role] < NEEDS[row[2]]:
        assert response.status_code == 403, response.text
        assert _is_problem(response, 403)
    else:
        # allowed: it may still be refused for business reasons (409), never for auth
        assert response.status_code in (200, 201, 204, 409), response.text


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
