"""A 3-node NATS cluster, a private case-DB schema with a registered fleet, and workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from simulator.fleet import Fleet
from tests.scale.cluster import Cluster
from tests.scale.workers import Shared, Worker, start_worker
from tests.tickets.conftest import pg_schema_url
from tickets.db import make_engine, make_session_factory, migrate
from tickets.registry import import_manifest

PARTITIONS = 8


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path / "nats", partitions=PARTITIONS)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def fleet() -> Fleet:
    """16 devices, 10 days every 10 minutes; six of them degrade (demo failures)."""
    return Fleet.demo(n_devices=16, seed=11, days=10)


@pytest.fixture
def cases_url(postgres_url: str, unique: str, fleet: Fleet) -> Iterator[str]:
    """A migrated private PostgreSQL schema that knows the fleet's devices."""
    schema = f"kz_scale_{unique}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = pg_schema_url(postgres_url, schema)
    try:
        migrate(url)
        factory = make_session_factory(url)
        import_manifest(factory, fleet.manifest())
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def shared(cluster: Cluster, cases_url: str, tmp_path: Path) -> Shared:
    return Shared(
        cluster.urls, tmp_path / "telemetry.db", tmp_path / "checkpoints", cases_url, PARTITIONS
    )


@pytest.fixture
def workers(shared: Shared, tmp_path: Path) -> Iterator[Callable[[str, str], Worker]]:
    """``workers(name, "0-3")`` starts a worker; every one is stopped at the end."""
    started: list[Worker] = []

    def start(name: str, partitions: str) -> Worker:
        worker = start_worker(shared, tmp_path, name, partitions)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill9()
