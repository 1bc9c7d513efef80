"""Plain MQTT scale-out: a shared subscription, one client id per worker (real Mosquitto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.base import IngestError, PayloadError
from ingest.deadletters import SqliteDeadLetters
from ingest.embedded_store import SqliteStore
from ingest.mqtt import MqttIngest
from ingest.settings import IngestConfig, MqttSettings
from ingest.topics import TopicParser
from kizuki.config import Settings
from kizuki.scale import WorkerSettings, ingest_config
from tests.ingest.helpers import publish, wait_until


def test_a_shared_subscription_reads_the_device_id_from_the_topic() -> None:
    parse = TopicParser("$share/kizuki/devices/+/telemetry")
    assert parse("devices/pump-7/telemetry") == "pump-7"
    assert TopicParser("$queue/devices/+/telemetry")("devices/ac-1/telemetry") == "ac-1"
    with pytest.raises(PayloadError) as refused:
        parse("$share/kizuki/devices/pump-7/telemetry")  # a filter is never a topic
    assert refused.value.reason == "bad_topic"


@pytest.mark.parametrize("bad", ["$share/g", "$share//devices/+/t", "$share/g+/a/+/b"])
def test_a_malformed_shared_subscription_is_one_clear_error(bad: str) -> None:
    with pytest.raises(IngestError, match=r"\$share/<group>/<topic filter>|one '\+' level"):
        TopicParser(bad)


def test_the_client_id_template_names_each_worker() -> None:
    mqtt = MqttSettings(client_id="kizuki-{worker}")
    assert mqtt.for_worker("kizuki-1").client_id == "kizuki-kizuki-1"
    a = ingest_config(IngestConfig(mqtt), WorkerSettings(name="a"))
    again = ingest_config(IngestConfig(mqtt), WorkerSettings(name="a"))
    b = ingest_config(IngestConfig(mqtt), WorkerSettings(name="b"))
    assert a.mqtt.client_id == again.mqtt.client_id != b.mqtt.client_id  # stable, unique
    assert MqttSettings().for_worker("a").client_id == "kizuki-engine"  # the default holds
    with pytest.raises(ValueError, match=r"only \{worker\}"):
        MqttSettings(client_id="kizuki-{pod}")


def test_two_workers_share_one_subscription_without_losing_or_taking_sessions(
    mosquitto_url: str, unique: str, tmp_path: Path
) -> None:
    group = f"$share/kz{unique}/kz-{unique}/devices/+/telemetry"
    root = Settings(
        mqtt={
            "url": mosquitto_url,
            "topic": group,
            "client_id": f"kz-{unique}-{{worker}}",
            "session_expiry_s": 60,
        },
        ingest={"receiver": "thread"},
    )
    stores = [SqliteStore(tmp_path / f"{w}.db") for w in "ab"]
    letters = [SqliteDeadLetters(tmp_path / f"{w}-dead.db") for w in "ab"]
    ingests = [
        MqttIngest(ingest_config(IngestConfig.of(root), WorkerSettings(name=w)), s, d)
        for w, s, d in zip("ab", stores, letters, strict=True)
    ]
    for ingest in ingests:
        ingest.start()
    try:
        body = [
            (
                f"kz-{unique}/devices/dev-{i % 20}/telemetry",
                json.dumps({"ts": 1_790_000_000 + i, "metrics": {"t": float(i)}}).encode(),
            )
            for i in range(400)
        ]
        publish(mosquitto_url, body)
        assert wait_until(lambda: sum(i.stats()["acked"] for i in ingests) >= 400, 30)
    finally:
        for ingest in ingests:
            ingest.stop()
    stats = [i.stats() for i in ingests]
    assert [s["dead_letters"] for s in stats] == [0, 0]  # no more bad_topic
    assert sum(s["readings"] for s in stats) == 400
    assert all(s["readings"] > 0 for s in stats)  # the broker dealt to both
    assert [s["connections"] for s in stats] == [1, 1]  # neither took the other's session
    assert [ingest.settings.mqtt.client_id for ingest in ingests] == [
        f"kz-{unique}-a",
        f"kz-{unique}-b",
    ]
    for store, dead in zip(stores, letters, strict=True):
        store.close()
        dead.close()
