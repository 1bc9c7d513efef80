"""The admin API a service team is set up with: agents, logins, maintenance windows."""

from __future__ import annotations

import httpx

from tests.api.test_web import csrf_of
from tests.api.world import World


def admin(world: World) -> dict[str, str]:
    return {"X-API-Key": world.keys["admin"]}


def test_an_added_agent_is_listed_and_can_be_disabled(client: httpx.Client, world: World) -> None:
    body = {
        "name": "Mei Chen",
        "email": "mei@example.com",
        "skills": ["pump-mechanical"],
        "languages": ["en", "zh-TW"],
        "product_lines": ["pumps"],
        "tier": 3,
        "capacity": 2,
        "teams": ["osaka", "night"],
    }
    created = client.post("/api/v1/agents", json=body, headers=admin(world))
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["languages"] == ["en", "zh"] and agent["tier"] == 3
    assert agent["teams"] == ["night", "osaka"] and agent["active"] is True
    listed = client.get("/api/v1/agents", headers={"X-API-Key": world.keys["viewer"]}).json()
    assert any(a["email"] == "mei@example.com" for a in listed["data"])
    changed = client.patch(
        f"/api/v1/agents/{agent['id']}", json={"active": False, "capacity": 4}, headers=admin(world)
    )
    assert changed.json()["active"] is False and changed.json()["capacity"] == 4
    missing = client.patch("/api/v1/agents/999999", json={"tier": 1}, headers=admin(world))
    assert missing.status_code == 404


def test_a_login_created_by_the_api_works_once_and_not_when_disabled(
    client: httpx.Client, world: World, base_url: str
) -> None:
    created = client.post(
        "/api/v1/users", json={"username": "nina", "role": "agent"}, headers=admin(world)
    )
    assert created.status_code == 201, created.text
    password = created.json()["password"]
    assert password and len(password) >= 16
    assert "password" not in client.get("/api/v1/users", headers=admin(world)).text

    def log_in() -> int:
        with httpx.Client(base_url=base_url, timeout=30) as browser:
            token = csrf_of(browser.get("/login").text)
            form = {"username": "nina", "password": password, "csrf_token": token}
            return browser.post("/login", data=form).status_code

    assert log_in() == 303
    disabled = client.patch("/api/v1/users/nina", json={"active": False}, headers=admin(world))
    assert disabled.json()["active"] is False
    assert log_in() == 401


def test_maintenance_windows_through_the_api(client: httpx.Client, world: World) -> None:
    agent = {"X-API-Key": world.keys["agent"]}
    body = {
        "device_id": "ac-00002",
        "starts_at": "2099-03-01T09:00:00+09:00",
        "minutes": 90,
        "mode": "quiet",
        "reason": "compressor swap",
    }
    created = client.post("/api/v1/maintenance", json=body, headers=agent)
    assert created.status_code == 201, created.text
    window = created.json()
    assert window["ends_at"].startswith("2099-03-01T01:30:00")
    listed = client.get("/api/v1/maintenance", params={"device_id": "ac-00002"}, headers=agent)
    assert [w["id"] for w in listed.json()["data"]] == [window["id"]]
    assert client.delete(f"/api/v1/maintenance/{window['id']}", headers=agent).status_code == 204
    assert (
        client.get("/api/v1/maintenance", params={"device_id": "ac-00002"}, headers=agent).json()[
            "count"
        ]
        == 0
    )
    unknown = client.post("/api/v1/maintenance", json={**body, "device_id": "nope"}, headers=agent)
    assert unknown.status_code == 404


def test_the_admin_page_adds_an_agent_and_a_login(base_url: str, world: World) -> None:
    from tests.api.world import PASSWORD

    with httpx.Client(base_url=base_url, timeout=30) as browser:
        token = csrf_of(browser.get("/login").text)
        form = {"username": "admin", "password": PASSWORD, "csrf_token": token}
        assert browser.post("/login", data=form).status_code == 303
        page = browser.get("/admin")
        assert page.status_code == 200 and 'href="/admin"' in page.text
        token = csrf_of(page.text)
        agent = {
            "csrf_token": token,
            "name": "Sora Ito",
            "email": "sora@example.com",
            "skills": "plumbing, electrical",
            "languages": "ja",
            "tier": "2",
        }
        assert browser.post("/admin/agents", data=agent).status_code == 303
        assert 'data-agent="sora@example.com"' in browser.get("/admin").text
        shown = browser.post(
            "/admin/users", data={"csrf_token": token, "username": "sora", "role": "agent"}
        )
        password = shown.text.split("<code data-secret>")[1].split("</code>")[0]
        assert "<code data-secret>" not in browser.get("/admin").text  # shown once
    with httpx.Client(base_url=base_url, timeout=30) as other:
        token = csrf_of(other.get("/login").text)
        form = {"username": "sora", "password": password, "csrf_token": token}
        assert other.post("/login", data=form).status_code == 303
        assert other.get("/admin").status_code == 403  # an agent, not an admin


def test_true_is_not_an_integer_in_an_admin_body(client: httpx.Client, world: World) -> None:
    # JSON true would pass as 1 in lax parsing: a login bound to agent 1, an agent of tier 1
    bodies = [
        ("/api/v1/users", {"username": "booly", "role": "agent", "agent_id": True}),
        ("/api/v1/agents", {"name": "B", "email": "b@example.com", "tier": True}),
        ("/api/v1/agents", {"name": "B", "email": "b@example.com", "capacity": False}),
    ]
    for path, body in bodies:
        refused = client.post(path, json=body, headers=admin(world))
        assert refused.status_code == 422, (path, body, refused.text)
        assert "not true/false" in refused.text
    assert "booly" not in client.get("/api/v1/users", headers=admin(world)).text


def test_zero_is_not_false_in_an_admin_body(client: httpx.Client, world: World) -> None:
    # JSON 0 or "false" would pass as false in lax parsing: a login disabled by a client
    # that sent a number, against the schema's boolean (the OpenAPI fuzzer found it)
    client.post("/api/v1/users", json={"username": "zero", "role": "viewer"}, headers=admin(world))
    for value in (0, 1, "false"):
        refused = client.patch("/api/v1/users/zero", json={"active": value}, headers=admin(world))
        assert refused.status_code == 422, (value, refused.text)
    users = client.get("/api/v1/users", headers=admin(world)).json()["data"]
    assert [u["active"] for u in users if u["username"] == "zero"] == [True]
