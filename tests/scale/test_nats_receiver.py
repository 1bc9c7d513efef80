"""NatsReceiver on a real cluster: only acked messages are done with; held ones stay held."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import nats
import pytest

from core.partitions import partition_of
from ingest.decode import Inbound
from ingest.nats_leases import PartitionTaken
from ingest.nats_source import NatsReceiver
from ingest.settings import NatsSettings
from tests.scale.cluster import Cluster
from tests.scale.workers import backlog

ACK_WAIT_S = 1.5


def publish(urls: list[str], devices: list[str]) -> None:
    """One JetStream-acked message per device, through the servers' partition mapping."""

    async def send() -> None:
        nc = await nats.connect(servers=urls)
        js = nc.jetstream(timeout=10)
        for device in devices:
            await js.publish(f"devices.{device}.telemetry", b'{"metrics": {"t": 1}}')
        await nc.close()

    asyncio.run(send())


def take_all(receiver: NatsReceiver, n: int, timeout: float = 15.0) -> list[Inbound]:
    got: list[Inbound] = []
    never = threading.Event()
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += receiver.take(1000, 0.2, 0.0, never, lambda _n: None)[1]
    return got


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for this module's tests (they use different devices)."""
    nodes = Cluster(tmp_path_factory.mktemp("nats"))
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def settings(cluster: Cluster) -> NatsSettings:
    return NatsSettings(urls=cluster.urls, ack_wait_s=ACK_WAIT_S, replicas=3)


@pytest.fixture
def receivers(settings: NatsSettings) -> Iterator[list[NatsReceiver]]:
    made: list[NatsReceiver] = []
    yield made
    for receiver in made:
        receiver.stop()


def test_a_batch_held_past_ack_wait_is_not_delivered_again(
    cluster: Cluster, settings: NatsSettings, receivers: list[NatsReceiver]
) -> None:
    devices = [d for d in (f"slow-{i}" for i in range(120)) if partition_of(d, 8) < 2]
    receiver = NatsReceiver(settings, range(2))
    receivers.append(receiver)
    receiver.start()
    publish(cluster.urls, devices)
    batch = take_all(receiver, len(devices))
    assert len(batch) == len(devices)
    time.sleep(3 * ACK_WAIT_S)  # a commit that takes longer than ack_wait
    assert take_all(receiver, 1, timeout=ACK_WAIT_S) == []  # not redelivered meanwhile
    assert receiver.ack(None, batch) == len(devices)
    assert backlog(cluster.urls, 2) == 0
    assert receiver.counts()["redelivered"] == 0


def test_unacked_messages_come_again_to_the_next_owner_and_only_to_it(
    cluster: Cluster, settings: NatsSettings, receivers: list[NatsReceiver]
) -> None:
    devices = [f"dev-{i}" for i in range(60)]
    mine = [d for d in devices if partition_of(d, 8) < 4]
    first = NatsReceiver(settings, range(4))
    receivers.append(first)
    first.start()
    publish(cluster.urls, devices)
    taken = take_all(first, len(mine))
    assert sorted(m.topic.split(".")[3] for m in taken) == sorted(mine)  # its partitions only
    first.ack(None, taken[: len(taken) // 2])  # then it dies before acking the rest
    first.stop()

    second = NatsReceiver(settings, range(4))
    receivers.append(second)
    second.start()
    again = take_all(second, len(taken) - len(taken) // 2, timeout=10 * ACK_WAIT_S)
    assert sorted(m.topic for m in again) == sorted(m.topic for m in taken[len(taken) // 2 :])
    assert all(m.redelivered for m in again)
    assert second.ack(None, again) == len(again)
    assert backlog(cluster.urls, 4) == 0  # every message of partitions 0-3 acked


def test_a_partition_has_one_owner_at_a_time(
    settings: NatsSettings, receivers: list[NatsReceiver]
) -> None:
    quick = settings.model_copy(update={"lease_wait_s": 0.5})
    first = NatsReceiver(quick, [5, 6], name="worker-a")
    receivers.append(first)
    first.start()
    rival = NatsReceiver(quick, [6, 7], name="worker-b")
    with pytest.raises(PartitionTaken, match="partition 6 is owned by worker 'worker-a'"):
        rival.start()
    again = NatsReceiver(quick, [5, 6], name="worker-a")  # a restart under the same name
    receivers.append(again)
    again.start()
    again.stop()
    first.stop()  # a clean stop gives the leases up: b may take 6 at once
    taker = NatsReceiver(quick, [6, 7], name="worker-b")
    receivers.append(taker)
    taker.start()
