"""Devices on Mosquitto, ``kizuki bridge`` into the stream: any NATS node may die.

nats-server 2.9's MQTT listener PUBACKs before the stream stores, so devices publishing
to it lose what they sent around a kill of the stream's leader
(``test_partitioned.py`` kills a replica only). Here devices publish to Mosquitto (the
shipped config); the bridge PUBACKs them only after the stream's publish ack, and sends
a message again under the same ``Nats-Msg-Id`` when a publish was not acked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulator.fleet import Fleet
from tests.ingest.broker import SIMULATOR, ShippedBroker
from tests.scale.cluster import Cluster
from tests.scale.test_partitioned import PER_MESSAGE, one_case_per_problem, progress, settled
from tests.scale.workers import (
    Publisher,
    Shared,
    Worker,
    messages,
    points,
    start_bridge,
    stored_points,
    stream_leader,
    stream_messages,
    wait_for,
)

RATE = 200.0


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[ShippedBroker]:
    (tmp_path / "mosquitto").mkdir()
    broker = ShippedBroker(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def bridges(
    shared: Shared, tmp_path: Path, mosquitto: ShippedBroker
) -> Iterator[Callable[[], Worker]]:
    """``bridges()`` starts the bridge ``g1`` (always the same MQTT session)."""
    started: list[Worker] = []

    def start() -> Worker:
        bridge = start_bridge(shared, tmp_path, "g1", mosquitto.url())
        started.append(bridge)
        bridge.wait_ready()
        return bridge

    yield start
    for bridge in started:
        bridge.kill9()


def test_kill9_of_the_stream_leader_and_of_the_bridge_loses_and_duplicates_nothing(
    cluster: Cluster,
    shared: Shared,
    fleet: Fleet,
    mosquitto: ShippedBroker,
    workers: Callable[[str, str], Worker],
    bridges: Callable[[], Worker],
) -> None:
    batch = messages(fleet.ticks(), PER_MESSAGE)
    a, b = workers("a", "0-3"), workers("b", "4-7")
    a.wait_ready()
    b.wait_ready()
    bridge = bridges()
    leader = stream_leader(cluster.urls)
    publisher = Publisher(mosquitto.url(SIMULATOR), "gateway-1")
    third = len(batch) // 3

    def kill_the_leader() -> None:
        wait_for(lambda: stored_points(shared.telemetry) > 0, 30, "the first commits")
        cluster.kill(next(i for i, n in enumerate(cluster.nodes) if n.name == leader))

    # 200 messages a second: the devices go on publishing through the election
    acked = publisher.send(batch[:third], every=third // 2, call=kill_the_leader, rate=RATE)
    acked += publisher.send(
        batch[third : 2 * third], every=third // 2, call=bridge.kill9, rate=RATE
    )
    bridge = bridges()  # the same session: Mosquitto sends what the dead one did not ack
    acked += publisher.send(batch[2 * third :])
    publisher.close()

    assert acked == len(batch)
    wait_for(
        settled(shared, points(batch)),
        90,
        "every reading stored and acked",
        progress(shared, points(batch), a, b, bridge),
    )
    assert stream_leader(cluster.urls) != leader  # the kill was of the leader
    assert stream_messages(cluster.urls) == len(batch)  # each message stored once
    assert stored_points(shared.telemetry) == points(batch)  # one row per reading
    assert a.process.poll() is None and b.process.poll() is None
    assert a.dead_letters() == b.dead_letters() == bridge.dead_letters() == 0
    found = one_case_per_problem(shared.cases_url)
    failing = {(t.device_id, t.failure_mode) for t in fleet.truth()}
    assert found and {(d, m) for d, m, _, _ in found} <= failing
