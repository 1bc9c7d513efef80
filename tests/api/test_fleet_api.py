"""Devices, telemetry, anomalies, customers, agents, knowledge base, dead letters."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.api.conftest import world_on_both_backends
from tests.api.world import BINARY_PAYLOAD, DAY, HOUR, World

world = world_on_both_backends()  # this module runs on both case-DB backends


def get(client: httpx.Client, world: World, path: str, role: str = "viewer", **params: Any) -> Any:
    response = client.get(path, params=params, headers={"X-API-Key": world.keys[role]})
    assert response.status_code == 200, response.text
    return response.json()


def test_devices_show_latest_readings_and_health(client: httpx.Client, world: World) -> None:
    devices = {d["id"]: d for d in get(client, world, "/api/v1/devices")["data"]}
    assert devices["ac-00001"]["health"] == "degraded"
    assert devices["ac-00001"]["open_cases"] == 1
    assert devices["ac-00002"]["latest"]["metrics"]["fan_rpm"] == 1195.0
    assert devices["wh-00001"]["health"] == "unknown"  # never heard from
    only = get(client, world, "/api/v1/devices", model="pump-p3")
    assert [d["id"] for d in only["data"]] == ["pump-0001"] and only["count"] == 1


def test_telemetry_is_downsampled_on_request(client: httpx.Client, world: World) -> None:
    start, end = world.now - 2 * DAY + 60, world.now
    raw = get(
        client,
        world,
        "/api/v1/devices/ac-00001/telemetry",
        metric="filter_dp_pa",
        start=start,
        end=end,
    )
    daily = get(
        client,
        world,
        "/api/v1/devices/ac-00001/telemetry",
        metric="filter_dp_pa",
        start=start,
        end=end,
        every=DAY,
    )
    assert raw["unit"] == "Pa" and raw["every"] is None
    assert len(raw["points"]) >= 47
    assert 2 <= len(daily["points"]) <= 3
    lo, hi = min(v for _, v in raw["points"]), max(v for _, v in raw["points"])
    assert all(lo <= v <= hi for _, v in daily["points"])
    assert all(start <= t < end for t, _ in raw["points"])


def test_long_ranges_are_averaged_by_default(client: httpx.Client, world: World) -> None:
    week = get(
        client,
        world,
        "/api/v1/devices/ac-00001/telemetry",
        metric="fan_rpm",
        start=world.now - 5 * DAY,
        end=world.now,
    )
    assert week["every"] is not None and week["every"] >= HOUR / 10


def test_telemetry_errors_are_clear(client: httpx.Client, world: World) -> None:
    headers = {"X-API-Key": world.keys["viewer"]}
    unknown = client.get(
        "/api/v1/devices/ac-00001/telemetry", params={"metric": "nope"}, headers=headers
    )
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    assert client.get("/api/v1/devices/ghost", headers=headers).status_code == 404


def test_telemetry_says_which_window_and_bucket_it_served(
    client: httpx.Client, world: World
) -> None:
    def served(**params: Any) -> Any:
        path = "/api/v1/devices/ac-00001/telemetry"
        return get(client, world, path, metric="fan_rpm", **params)

    backwards = served(start=world.now, end=world.now - DAY)
    assert backwards["points"] == [] and backwards["start"] == world.now
    too_fine = served(start=0, end=world.now, every=1)  # 400 days at 1 s: too many buckets
    assert too_fine["start"] == world.now - 400 * DAY
    assert too_fine["every"] >= 400 * DAY / 20_000
    assert 100 <= len(too_fine["points"]) <= 130  # five days of hourly readings, averaged


def test_anomalies_carry_the_explanation(client: httpx.Client, world: World) -> None:
    data = get(client, world, "/api/v1/anomalies", device_id="ac-00001")["data"]
    assert data[0]["failure_mode"] == "filter_clog"
    assert data[0]["explanation"]["eta_ts"] > world.now


def test_customers_strip_credentials_from_contact_urls(client: httpx.Client, world: World) -> None:
    customer = get(client, world, "/api/v1/customers/c-0001", role="agent")
    assert customer["contacts"][0] == {
        "id": customer["contacts"][0]["id"],
        "channel": "email",
        "url": "mailto://yamada@example.com",
        "preference": 0,
        "enabled": True,
    }


def test_agents_show_their_load(client: httpx.Client, world: World) -> None:
    agents = get(client, world, "/api/v1/agents")["data"]
    assert sum(a["open_cases"] for a in agents) >= 3
    assert all(a["capacity"] > 0 for a in agents)


def test_knowledge_base_in_both_languages(client: httpx.Client, world: World) -> None:
    en = get(client, world, "/api/v1/kb/ac-filter-clog", locale="en")
    ja = get(client, world, "/api/v1/kb/ac-filter-clog", locale="ja")
    assert en["failure_modes"] == ["aircon-x1/filter_clog"]
    assert ja["locale"] == "ja" and ja["title"] != en["title"]
    assert get(client, world, "/api/v1/kb")["count"] >= 10


def test_dead_letters_list_with_counts(client: httpx.Client, world: World) -> None:
    letters = get(client, world, "/api/v1/dead-letters", role="admin")
    assert letters["counts"] == {"bad_json": 1, "not_json": 1}
    by_reason = {d["reason"]: d for d in letters["data"]}
    assert by_reason["bad_json"]["payload"] == "{not json"
    assert by_reason["bad_json"]["payload_bytes"] == 9
    binary = by_reason["not_json"]
    assert base64.b64decode(binary["payload_base64"]) == BINARY_PAYLOAD  # byte for byte
    assert binary["payload_bytes"] == len(BINARY_PAYLOAD) and "\ufffd" in binary["payload"]
