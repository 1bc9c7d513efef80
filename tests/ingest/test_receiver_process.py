"""The MQTT receiver child process: it never outlives the engine, a dead one is replaced,
and a Ctrl-C to the whole process group still ends in a clean, fully acked stop."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import alive, children_of, free_port
from tests.ingest.broker import SIMULATOR, ShippedBroker
from tests.ingest.helpers import Harness, publish, wait_until
from tests.ingest.test_durability import readings, start_ingester, stop_ingester, stored
from tests.simulator.brokers import Broker


def test_engine_killed_with_sigkill_takes_its_receiver_with_it(
    shipped: ShippedBroker, unique: str, tmp_path: Path
) -> None:
    engine = start_ingester(shipped.url(), unique, tmp_path)
    try:
        children = children_of(engine.pid)
        assert len(children) == 1, "one child process"
        (receiver,) = children
        assert b"ingest.receiver" in Path(f"/proc/{receiver}/cmdline").read_bytes()
    finally:
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait()
    assert wait_until(lambda: not alive(receiver), timeout=10), "the receiver exited"


@pytest.fixture
def unbounded(unique: str, tmp_path: Path) -> Iterator[Harness]:
    """A harness on a private Mosquitto that queues without limit, as the shipped config
    does: the stock ``max_queued_messages 1000`` drops messages for the session while its
    receiver is being replaced, which is the broker losing them, not ingest."""
    broker = Broker(free_port(), tmp_path, extra="max_queued_messages 0")
    broker.start()
    h = Harness(broker.url, unique, tmp_path)
    try:
        yield h
    finally:
        h.store.close()
        h.letters.close()
        broker.stop()


def test_a_killed_receiver_is_replaced_and_nothing_is_lost(
    unbounded: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness = unbounded
    n, dev = 2000, f"r{harness.unique}"
    ingest = harness.start()
    now = time.time()
    messages = [
        (harness.topic(dev), orjson.dumps({"ts": now + i / 1000, "metrics": {"t": i}}))
        for i in range(n)
    ]
    publisher = threading.Thread(
        target=publish, args=(harness.url, messages), kwargs={"rate": 2000}
    )
    publisher.start()
    first = None
    try:
        assert wait_until(lambda: ingest.stats()["readings"] > 200)
        first = ingest.receiver_pid()
        assert first is not None
        with caplog.at_level(logging.ERROR, logger="ingest.receiver"):
            os.kill(first, signal.SIGKILL)
            publisher.join()
            stored = lambda: len(harness.store.query(dev, "t", 0, now + 10))  # noqa: E731
            assert wait_until(lambda: stored() == n, 30), (stored(), ingest.stats())
        assert ingest.receiver_pid() not in (None, first)
        assert f"MQTT receiver process {first} exited" in caplog.text
    finally:
        publisher.join()
        ingest.stop()
    stats = ingest.stats()
    assert stats["connections"] == 2, "counts are summed over both receivers"
    assert stats["acked"] <= stats["received"]
    assert first is not None and not alive(first)


def test_ctrl_c_to_the_process_group_still_acks_everything_committed(
    shipped: ShippedBroker, unique: str, tmp_path: Path
) -> None:
    """A terminal's Ctrl-C reaches every process of the group; the receiver leaves the
    stop to the engine, which commits and acks what it took before the receiver goes."""
    engine = start_ingester(shipped.url(), unique, tmp_path, own_group=True)
    n = 500
    try:
        publish(shipped.url(SIMULATOR), readings(unique, n, prefix=""))
        db = tmp_path / "telemetry.db"
        assert wait_until(lambda: db.exists() and stored(db)[1] == n)
        os.killpg(engine.pid, signal.SIGINT)
        out, _ = engine.communicate(timeout=30)
    finally:
        if engine.poll() is None:
            os.killpg(engine.pid, signal.SIGKILL)
            engine.wait()
    assert engine.returncode == 0
    line = next(x for x in out.splitlines() if x.startswith("ingest stopped: "))
    stats = json.loads(line.removeprefix("ingest stopped: "))
    assert stats["received"] == stats["acked"] == n
    again = start_ingester(shipped.url(), unique, tmp_path)  # same session: nothing back
    time.sleep(1.0)
    assert stop_ingester(again)["received"] == 0


def test_the_thread_receiver_commits_and_acks_on_the_real_broker(harness: Harness) -> None:
    dev, now = f"t{harness.unique}", time.time()
    ingest = harness.start(receiver="thread")
    try:
        assert ingest.receiver_pid() is None
        messages = [
            (harness.topic(dev), orjson.dumps({"ts": now + i, "metrics": {"t": i}}))
            for i in range(300)
        ]
        publish(harness.url, messages)
        assert wait_until(lambda: ingest.stats()["acked"] >= 300)
    finally:
        ingest.stop()
    assert len(harness.store.query(dev, "t", now - 1, now + 400)) == 300
    again = harness.start(receiver="thread")
    try:
        time.sleep(1.0)
    finally:
        again.stop()
    assert again.stats()["received"] == 0
