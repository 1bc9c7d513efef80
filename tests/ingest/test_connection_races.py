"""Reconnects at awkward moments, played by a fake client at the client-factory seam.

The real broker cannot be made to drop a connection between two acks of one batch, so
these tests drive MqttIngest's real writer, stores and callbacks through ``FakeClient``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from core.metrics import DEAD_LETTERS
from ingest.deadletters import SqliteDeadLetters
from ingest.embedded_store import SqliteStore
from ingest.mqtt import MqttIngest
from ingest.settings import IngestConfig
from kizuki.config import Settings
from tests.ingest.fakes import Delivery, FakeClient, factory
from tests.ingest.helpers import wait_until

TOPIC = "devices/{}/telemetry"


class Stores:
    def __init__(self, tmp: Path) -> None:
        self.telemetry = SqliteStore(tmp / "t.db")
        self.letters = SqliteDeadLetters(tmp / "d.db")

    def ingest(self, client: FakeClient) -> MqttIngest:
        settings = Settings(mqtt={"url": "mqtt://127.0.0.1:1", "client_id": "fake"})
        ingest = MqttIngest(
            IngestConfig.of(settings), self.telemetry, self.letters, client_factory=factory(client)
        )
        ingest.start()
        return ingest


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    s = Stores(tmp_path)
    yield s
    s.telemetry.close()
    s.letters.close()


def readings(device: str, n: int, first_mid: int = 1) -> list[Delivery]:
    now = time.time()
    return [
        (
            TOPIC.format(device),
            orjson.dumps({"ts": now + i, "metrics": {"t": i}}),
            first_mid + i,
            False,
        )
        for i in range(n)
    ]


def test_reconnect_during_the_ack_loop_sends_no_ack_on_the_new_connection(
    stores: Stores,
) -> None:
    client = FakeClient(readings("race-1", 20))
    # The connection drops right after the first ack of the batch goes out; paho's
    # thread runs on_disconnect, opens a new socket and gets CONNACK meanwhile.
    client.on_ack = lambda c: c.reconnect([]).join(0.5)
    ingest = stores.ingest(client)
    try:
        assert wait_until(lambda: ingest.stats()["batches"] >= 1 and len(client.acks) >= 1)
        assert wait_until(lambda: ingest.stats()["connections"] == 2)
    finally:
        ingest.stop()
    # Every ack of the batch left on the connection that delivered it, none on the new one.
    assert client.acks and {conn for conn, _ in client.acks} == {0}
    assert [mid for _, mid in client.acks] == list(range(1, 21))


def test_messages_of_a_lost_connection_are_not_acked_on_the_next(stores: Stores) -> None:
    client = FakeClient(readings("race-2", 5))
    ingest = stores.ingest(client)
    try:
        assert wait_until(lambda: ingest.stats()["acked"] == 5)
        client.reconnect(readings("race-2", 3, first_mid=1)).join(5)
        assert wait_until(lambda: ingest.stats()["acked"] == 8)
    finally:
        ingest.stop()
    assert client.acks == [(0, m) for m in range(1, 6)] + [(1, m) for m in range(1, 4)]


def test_redelivered_dead_letter_is_kept_and_counted_once(stores: Stores) -> None:
    poison = (TOPIC.format("dl-1"), b"\x00\xffnot json", 7, False)
    before = DEAD_LETTERS.labels("not_json")._value.get()
    client = FakeClient([poison])
    ingest = stores.ingest(client)
    try:
        assert wait_until(lambda: ingest.stats()["acked"] == 1)
        # The PUBACK was lost with the connection: the broker sends it again, DUP set.
        client.reconnect([(*poison[:3], True)]).join(5)
        assert wait_until(lambda: ingest.stats()["acked"] == 2)
    finally:
        ingest.stop()
    assert client.acks == [(0, 7), (1, 7)]
    assert ingest.stats()["redelivered"] == 1
    assert stores.letters.counts() == {"not_json": 1}
    assert DEAD_LETTERS.labels("not_json")._value.get() == before + 1
    assert ingest.stats()["dead_letters"] == 1


def test_same_bad_payload_sent_twice_is_two_dead_letters(stores: Stores) -> None:
    bad = (TOPIC.format("dl-2"), b"{oops", 9, False)
    client = FakeClient([bad])
    ingest = stores.ingest(client)
    try:
        assert wait_until(lambda: ingest.stats()["acked"] == 1)
        client.reconnect([bad]).join(5)  # no DUP flag: a new message from the device
        assert wait_until(lambda: ingest.stats()["acked"] == 2)
    finally:
        ingest.stop()
    assert stores.letters.counts() == {"not_json": 2}


def test_ack_all_falls_back_to_public_acks_without_paho_packet_queue() -> None:
    from ingest.connection import ack_all

    class PublicOnly:  # a paho without the private packet queue ack_all batches into
        def __init__(self) -> None:
            self.acked: list[tuple[int, int]] = []

        def ack(self, mid: int, qos: int) -> None:
            self.acked.append((mid, qos))

    client = PublicOnly()
    ack_all(client, [7, 8, 9])  # type: ignore[arg-type]
    assert client.acked == [(7, 1), (8, 1), (9, 1)]
