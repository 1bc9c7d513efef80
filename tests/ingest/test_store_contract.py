"""One TelemetryStore contract, run against every backend on real databases.

``influx2``: the same suite against a real InfluxDB 2 (writes /api/v2/write, reads InfluxQL
through its DBRP mapping), only when ``KIZUKI_TEST_INFLUX_URL`` is set (token in
``KIZUKI_TEST_INFLUX_TOKEN``, default the docker-compose development token).

``influx``: InfluxStore writes to VictoriaMetrics (/api/v2/write, influxdb-client) and
reads with InfluxQL from InfluxDB 1.x, which receives the same line protocol on its v1
/write (1.x has no /api/v2/write). ``test_influx_writes_reach_victoria`` checks that
VictoriaMetrics holds exactly what InfluxStore wrote, sample for sample (no dedup).

``influx1``: InfluxStore with ``write_api="v1"`` writing and reading InfluxDB 1.x itself.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from core.readings import Reading
from ingest.base import TelemetryStore
from ingest.embedded_store import SqliteStore
from ingest.influx_lines import to_line_protocol
from ingest.influx_store import InfluxStore
from tests.ingest.services import Service, vm_points

T0 = float((int(time.time()) // 3600 - 1) * 3600)  # a whole hour, an hour ago


class MirroredInflux:
    """InfluxStore writing to VictoriaMetrics, mirrored to InfluxDB 1.x for the reads."""

    def __init__(self, store: InfluxStore, influx1_url: str) -> None:
        self.inner = store
        self.influx1_url = influx1_url

    def write(self, readings: Sequence[Reading]) -> int:
        written = self.inner.write(readings)
        params = {"db": "telemetry", "precision": "ms"}
        body = to_line_protocol(readings)
        httpx.post(f"{self.influx1_url}/write", params=params, content=body).raise_for_status()
        return written

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture(
    params=["sqlite", "influx", "influx1", pytest.param("influx2", marks=pytest.mark.influx2)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TelemetryStore]:
    if request.param == "sqlite":
        backend: TelemetryStore = SqliteStore(tmp_path / "telemetry.db")
    elif request.param == "influx2":
        backend = influx2_store()
    elif request.param == "influx1":
        url = request.getfixturevalue("influx1").url
        backend = InfluxStore(url, "", "kizuki", "telemetry", write_api="v1")
    else:
        vm: Service = request.getfixturevalue("victoria")
        influx1: Service = request.getfixturevalue("influx1")
        inner = InfluxStore(vm.url, "", "kizuki", "telemetry", query_url=influx1.url)
        backend = MirroredInflux(inner, influx1.url)  # type: ignore[assignment]
    yield backend
    backend.close()


def influx2_store() -> InfluxStore:
    """Round trip on a real InfluxDB 2 (``docker compose up influxdb``) when configured."""
    url = os.environ.get("KIZUKI_TEST_INFLUX_URL")
    if not url:
        pytest.skip(
            "InfluxDB 2 round trip: set KIZUKI_TEST_INFLUX_URL (docker compose up influxdb)"
        )
    token = os.environ.get("KIZUKI_TEST_INFLUX_TOKEN", "kizuki-dev-token")
    return InfluxStore(
        url, token, "kizuki", os.environ.get("KIZUKI_TEST_INFLUX_BUCKET", "telemetry")
    )


@pytest.fixture
def device() -> str:
    return f"dev-{uuid.uuid4().hex[:10]}"


def test_write_then_query_returns_points_oldest_first(store: TelemetryStore, device: str) -> None:
    readings = [Reading(device, T0 + i * 10, {"temp": 20.0 + i, "rpm": 1000.0}) for i in range(5)]
    assert store.write(list(reversed(readings))) == 10
    points = store.query(device, "temp", T0, T0 + 1000)
    assert points == [(T0 + i * 10, 20.0 + i) for i in range(5)]


def test_query_window_is_half_open(store: TelemetryStore, device: str) -> None:
    store.write([Reading(device, T0 + i, {"temp": float(i)}) for i in range(10)])
    assert [v for _, v in store.query(device, "temp", T0 + 2, T0 + 5)] == [2.0, 3.0, 4.0]


def test_redelivered_reading_is_one_point(store: TelemetryStore, device: str) -> None:
    reading = Reading(device, T0 + 0.123, {"temp": 21.5})
    store.write([reading])
    store.write([reading])
    store.write([Reading(device, T0 + 0.123, {"temp": 22.5})])
    assert store.query(device, "temp", T0, T0 + 1) == [(T0 + 0.123, 22.5)]


def test_millisecond_precision_survives(store: TelemetryStore, device: str) -> None:
    store.write([Reading(device, T0 + 0.001, {"v": 1.0}), Reading(device, T0 + 0.002, {"v": 2.0})])
    assert store.query(device, "v", T0, T0 + 1) == [(T0 + 0.001, 1.0), (T0 + 0.002, 2.0)]


def test_every_averages_buckets(store: TelemetryStore, device: str) -> None:
    store.write([Reading(device, T0 + i * 15, {"temp": float(i)}) for i in range(8)])
    # 60 s buckets aligned to the epoch: T0 is a whole hour, so 4 points per bucket.
    assert store.query(device, "temp", T0, T0 + 120, every=60) == [(T0, 1.5), (T0 + 60, 5.5)]


def test_latest_has_each_metric_and_newest_ts(store: TelemetryStore, device: str) -> None:
    store.write([Reading(device, T0, {"temp": 20.0, "rpm": 900.0})])
    store.write([Reading(device, T0 + 30, {"temp": 21.0})])
    latest = store.latest(device)
    assert latest == Reading(device, T0 + 30, {"temp": 21.0, "rpm": 900.0})


def test_unknown_device_has_no_latest_and_no_points(store: TelemetryStore, device: str) -> None:
    assert store.latest(device) is None
    assert store.query(device, "temp", 0, T0 + 10) == []


def test_devices_do_not_mix(store: TelemetryStore, device: str) -> None:
    other = device + "-b"
    store.write([Reading(device, T0, {"temp": 1.0}), Reading(other, T0, {"temp": 2.0})])
    assert store.query(other, "temp", T0, T0 + 1) == [(T0, 2.0)]


def test_empty_write_writes_nothing(store: TelemetryStore) -> None:
    assert store.write([]) == 0


def test_influx_writes_reach_victoria(victoria: Service, device: str) -> None:
    store = InfluxStore(victoria.url, "", "kizuki", "telemetry")
    readings = [Reading(device, T0 + i * 0.5, {"temp": float(i)}) for i in range(100)]
    assert store.write(readings) == 100
    expected = [(round((T0 + i * 0.5) * 1000), float(i)) for i in range(100)]
    assert sorted(vm_points(victoria.url, "temp")[device]) == expected  # each sample once
    store.write(readings[:10])  # a redelivery: VictoriaMetrics keeps raw samples, so +10
    store.close()
    assert sorted(vm_points(victoria.url, "temp")[device]) == sorted(expected + expected[:10])
