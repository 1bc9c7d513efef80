"""Fixtures for ingest tests: real time-series databases started and stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ingest.broker import ShippedBroker
from tests.ingest.helpers import Harness
from tests.ingest.services import Service, influxdb1, victoria_metrics


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A VictoriaMetrics shared by the session (tests use unique device ids)."""
    service = victoria_metrics(tmp_path_factory.mktemp("vm"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def own_victoria(tmp_path: Path) -> Iterator[Service]:
    """A VictoriaMetrics for one test, which may stop and restart it."""
    service = victoria_metrics(tmp_path)
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def influx1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """InfluxDB 1.x (InfluxQL on /query) with a ``telemetry`` database."""
    service = influxdb1(tmp_path_factory.mktemp("influx1"))
    service.start()
    httpx.post(f"{service.url}/query", params={"q": "CREATE DATABASE telemetry"}).raise_for_status()
    yield service
    service.stop()


@pytest.fixture
def shipped(tmp_path: Path) -> Iterator[ShippedBroker]:
    """A private Mosquitto running the shipped config (users, ACL, unlimited queues)."""
    broker = ShippedBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def harness(mosquitto_url: str, unique: str, tmp_path: Path) -> Iterator[Harness]:
    """MqttIngest on the session's Mosquitto with SQLite stores in ``tmp_path``."""
    h = Harness(mosquitto_url, unique, tmp_path)
    yield h
    h.store.close()
    h.letters.close()
