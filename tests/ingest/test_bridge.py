"""The bridge's settling of a batch, with fakes at its two seams (receiver, publisher).

The real path (Mosquitto, a 3-node cluster, kill -9 of the stream's leader and of the
bridge) is ``tests/scale/test_bridge.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from ingest.bridge import Bridge, Router, message_id
from ingest.deadletters import SqliteDeadLetters
from ingest.decode import Inbound
from ingest.settings import NatsSettings
from ingest.topics import PartitionSubjectParser


class FakeReceiver:
    def __init__(self) -> None:
        self.acked: list[Inbound] = []

    def ack(self, token: object, batch: Sequence[Inbound]) -> int:
        self.acked.extend(batch)
        return len(batch)


class FakePublisher:
    """The stream acks every message but those whose payload is in ``refuse``."""

    def __init__(self, refuse: set[bytes]) -> None:
        self.refuse = refuse
        self.sent: list[tuple[str, bytes, str]] = []

    def publish(self, items: Sequence[tuple[str, bytes, str]], stop: threading.Event) -> list[bool]:
        self.sent.extend(items)
        return [payload not in self.refuse for _, payload, _ in items]


def msg(topic: str, payload: bytes, mid: int) -> Inbound:
    return Inbound(topic, payload, 0.0, mid)


def test_a_device_is_acked_only_for_what_the_stream_acked(tmp_path: Path) -> None:
    receiver, publisher = FakeReceiver(), FakePublisher(refuse={b"lost"})
    letters = SqliteDeadLetters(tmp_path / "dead.db")
    route = Router(NatsSettings(), 8, "devices/+/telemetry")
    bridge = Bridge(receiver, publisher, route, letters)
    batch = [
        msg("devices/ac-1/telemetry", b"stored", 1),
        msg("devices/ac-2/telemetry", b"lost", 2),
        msg("devices/a.b/telemetry", b"x", 3),  # a '.' cannot be one subject token
        msg("other/ac-1/telemetry", b"y", 4),
    ]
    assert bridge.forward(None, batch, threading.Event()) == 3
    assert [m.mid for m in receiver.acked] == [1, 3, 4]  # not 2: the broker sends it again
    assert letters.counts() == {"bad_topic": 2}  # kept, and acked so they do not loop
    letters.close()


def test_subjects_are_what_the_workers_read_and_ids_follow_the_message() -> None:
    route = Router(NatsSettings(), 8, "$share/bridges/devices/+/telemetry")
    owned = PartitionSubjectParser("part", 8, set(range(8)))
    for device in ("ac-00001", "pump-00002", "wh_3", "x" * 128):
        subject = route(f"devices/{device}/telemetry")
        assert owned(subject) == device  # partition checked against partition_of
    assert message_id("devices/a/telemetry", b"1") == message_id("devices/a/telemetry", b"1")
    assert message_id("devices/a/telemetry", b"1") != message_id("devices/b/telemetry", b"1")
    assert message_id("devices/a/telemetry", b"1") != message_id("devices/a/telemetry", b"2")
