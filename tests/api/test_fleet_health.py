"""Fleet health as a service lead reads it: silent and never-heard-from devices are not
"healthy", lead time counts from first detection, and the device list pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import httpx

from api.main import create_app
from core.readings import Reading
from tests.api.conftest import world_on_both_backends
from tests.api.server import serve
from tests.api.test_web import HTML, log_in
from tests.api.world import DAY, World, _event
from tickets.registry import import_manifest

EXTRA_DEVICES = 70


world = world_on_both_backends()  # this module runs on both case-DB backends


def _health(client: httpx.Client, world: World) -> dict[str, str]:
    response = client.get("/api/v1/devices", headers={"X-API-Key": world.keys["viewer"]})
    return {d["id"]: d["health"] for d in response.json()["data"]}


def test_devices_tell_healthy_from_silent_and_never_heard(
    client: httpx.Client, world: World
) -> None:
    health = _health(client, world)
    assert health["ac-00003"] == "healthy"
    assert health["ac-00004"] == "silent"  # last reading two days ago
    assert health["wh-00001"] == "unknown"  # never heard from
    assert health["ac-00001"] == health["pump-0001"] == "degraded"  # open cases


def _model_row(page: str, model: str) -> dict[str, int]:
    row = page[page.index(f'data-model="{model}"') :].split("</tr>")[0]
    return {h: int(n) for h, n in re.findall(r'<span data-health="(\w+)">(\d+) ', row)}


def test_the_fleet_page_counts_each_health_state_per_model(
    client: httpx.Client, world: World
) -> None:
    log_in(client, "viewer")
    page = client.get("/fleet", headers=HTML).text
    assert _model_row(page, "aircon-x1") == {"healthy": 1, "degraded": 2, "silent": 1}
    assert _model_row(page, "waterheater-w2") == {"unknown": 1}
    assert "1 never heard from" in page
    device = client.get("/devices/ac-00004", headers=HTML).text
    assert 'class="health h-silent">silent<' in device
    assert "Silent: nothing received for more than 1h 0m." in device


def test_lead_time_counts_from_first_detection(client: httpx.Client, world: World) -> None:
    # the pump's bearing case is seen again a day later; the crossing is still predicted
    # three days after the case was opened, so the lead stays three days
    again = _event(
        "pump-0001",
        "pump-p3",
        "bearing_wear",
        "medium",
        "vibration_mm_s",
        "mm/s",
        2.0,
        5.5,
        7.1,
        world.now,
    )
    again = replace(again, ts=world.now + DAY)
    assert world.service.handle(again).case_id == world.cases["bearing"]
    log_in(client, "viewer")
    page = client.get("/fleet", headers=HTML).text
    row = page[page.index('data-model="pump-p3"') :].split("</tr>")[0]
    assert re.search(r'class="lead">([^<]+)<', row).group(1) == "3.0 d"  # type: ignore[union-attr]


def _register_many(world: World) -> list[str]:
    ids = [f"ac-p{n:04d}" for n in range(EXTRA_DEVICES)]
    devices = [{"id": i, "model": "aircon-x1", "customer_id": "c-0002"} for i in ids]
    import_manifest(world.session_factory, {"customers": [], "devices": devices})
    return ids


def test_the_device_list_pages_with_open_cases_first(client: httpx.Client, world: World) -> None:
    _register_many(world)
    log_in(client, "viewer")
    first = client.get("/fleet", headers=HTML).text
    rows = re.findall(r'<tr data-device="([^"]+)" data-health="(\w+)">', first)
    assert len(rows) == 50 and "page 1 of 2" in first
    assert [h for _, h in rows[:3]] == ["degraded"] * 3
    second = client.get("/fleet?page=2", headers=HTML).text
    more = re.findall(r'<tr data-device="([^"]+)"', second)
    assert len(more) == 6 + EXTRA_DEVICES - 50 and not {d for d, _ in rows} & set(more)
    assert 'rel="prev"' in second and 'rel="next"' not in second


class CountingStore:
    """The world's real store, counting how often it is asked for a device's latest."""

    def __init__(self, inner: object) -> None:
        self.inner, self.latest_calls = inner, 0

    def latest(self, device_id: str) -> Reading | None:
        self.latest_calls += 1
        return self.inner.latest(device_id)  # type: ignore[attr-defined, no-any-return]

    def query(self, *args: object, **kwargs: object) -> list[tuple[float, float]]:
        return self.inner.query(*args, **kwargs)  # type: ignore[attr-defined, no-any-return]

    def write(self, readings: Sequence[Reading]) -> int:
        return self.inner.write(readings)  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None: ...


def test_store_lookups_are_bounded_by_the_page(world: World) -> None:
    store = CountingStore(world.store)
    app = create_app(
        world.settings, world.session_factory, store, world.deadletters, case_service=world.service
    )  # type: ignore[arg-type]
    with serve(app) as url, httpx.Client(base_url=url) as client:
        headers = {"X-API-Key": world.keys["viewer"]}
        assert len(client.get("/api/v1/devices?limit=10", headers=headers).json()["data"]) == 10
        assert store.latest_calls == 10
        log_in(client, "viewer")
        store.latest_calls = 0
        devices = client.get("/api/v1/devices?limit=500", headers=headers).json()["count"]
        client.get("/fleet", headers=HTML)
        client.get("/fleet?page=2", headers=HTML)
        assert store.latest_calls <= devices - 10  # each device asked once; no repeats
