"""QoS 1 and 2 against private Mosquittos with the stock in-flight limit (20), counted by a
real ``mosquitto_sub`` in its own process: what ``publish`` reports is what arrived."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from simulator.cli import simulate
from simulator.fleet import Fleet
from simulator.publisher import PublishStats, publish
from tests.simulator.brokers import Broker, SubscriberProcess
from tests.simulator.conftest import START

MakeBroker = Callable[..., Broker]


@pytest.fixture
def make_broker(port: int, tmp_path: Path) -> Iterator[MakeBroker]:
    started: list[Broker] = []

    def make(extra: str = "") -> Broker:
        broker = Broker(port, tmp_path, extra=extra)
        broker.start()
        started.append(broker)
        return broker

    yield make
    for broker in started:
        broker.stop(signal.SIGKILL)


@pytest.fixture
def burst() -> Fleet:
    """200 devices, 15 ticks: every tick is a burst of 200 messages, ten times the limit."""
    return Fleet(200, seed=1, failure_rate=0.1, start_ts=START, days=0.1)


def expected_lines(fleet: Fleet) -> set[bytes]:
    lines = {
        f"devices/{d.device_id}/status {status}".encode()
        for d in fleet.devices
        for status in ("online", "offline")
    }
    for _, readings in fleet.ticks():
        for r in readings:
            body = orjson.dumps({"ts": r.ts, "metrics": r.metrics})
            lines.add(f"devices/{r.device_id}/telemetry ".encode() + body)
    return lines


def publish_counted(
    broker: Broker, tmp_path: Path, fleet: Fleet, qos: int, **options: object
) -> tuple[PublishStats, list[bytes]]:
    subscriber = SubscriberProcess(broker.port, "devices/#", qos, tmp_path / "sub.txt")
    try:
        # Paced at 3,000x (a tick every 0.2 s) so the subscriber never trails by more
        # than the 1,000 messages Mosquitto queues for it by default.
        stats = publish(fleet, broker.url, qos=qos, speed=3000.0, **options)  # type: ignore[arg-type]
        return stats, subscriber.wait_for("devices/", stats.messages)
    finally:
        subscriber.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_qos2_every_message_arrives_exactly_once_on_a_stock_broker(
    make_broker: MakeBroker, tmp_path: Path, burst: Fleet, protocol: str
) -> None:
    expected = expected_lines(burst)
    stats, received = publish_counted(make_broker(), tmp_path, burst, 2, protocol=protocol)
    assert stats.messages == len(expected) and stats.rejected == 0
    assert len(received) == stats.messages  # nothing lost, nothing twice
    assert set(received) == expected
    assert stats.inflight == 20


def test_mqtt5_never_exceeds_the_receive_maximum_the_broker_announces(
    make_broker: MakeBroker, tmp_path: Path, burst: Fleet
) -> None:
    broker = make_broker("max_inflight_messages 5")
    stats, received = publish_counted(broker, tmp_path, burst, 2, protocol="5", max_inflight=100)
    assert stats.inflight == 5
    assert len(received) == stats.messages == len(expected_lines(burst))


def test_qos1_keeps_its_larger_window_and_loses_nothing(
    make_broker: MakeBroker, tmp_path: Path, burst: Fleet
) -> None:
    stats, received = publish_counted(make_broker(), tmp_path, burst, 1)
    assert stats.inflight == 100
    assert set(received) == expected_lines(burst) and len(received) == stats.messages


@pytest.mark.parametrize("qos", [1, 2])
def test_messages_an_mqtt5_broker_refuses_are_not_counted_as_published(
    make_broker: MakeBroker, tmp_path: Path, qos: int
) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic write devices/+/status\ntopic write simulator/#\n")
    # Mosquitto opens the ACL after dropping root for its own user, which cannot read
    # pytest's private tmp_path; "user root" keeps it (ignored when not run as root).
    broker = make_broker(f"acl_file {acl}\nuser root")
    fleet = Fleet(10, seed=1, failure_rate=0.0, start_ts=START, days=0.1)
    telemetry = sum(len(rs) for _, rs in fleet.ticks())
    stats = publish(fleet, broker.url, qos=qos, protocol="5")
    assert stats.messages == 2 * len(fleet.devices)  # the status messages only
    assert stats.readings == 0
    assert stats.rejected == telemetry and stats.reasons == {"Not authorized": telemetry}


def test_simulate_reports_refused_messages_and_exits_1(
    make_broker: MakeBroker, tmp_path: Path
) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic write devices/+/status\ntopic write simulator/#\n")
    broker = make_broker(f"acl_file {acl}\nuser root")
    app = typer.Typer()
    app.command()(simulate)
    args = ["--devices", "3", "--days", "0.05", "--start", str(START), "--seed", "4"]
    result = CliRunner().invoke(app, [*args, "--url", broker.url, "--qos", "2", "--protocol", "5"])
    same = Fleet(3, seed=4, failure_rate=0.05, start_ts=START, days=0.05)
    telemetry = sum(len(rs) for _, rs in same.ticks())
    assert result.exit_code == 1, result.output
    assert "published 6 messages (0 readings, 7 ticks)" in result.output
    assert f"error: the broker refused {telemetry} messages (Not authorized: {telemetry})" in (
        result.output
    )
