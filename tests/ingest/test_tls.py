"""Ingest over mutual TLS to the shipped Mosquitto TLS listener (deploy/mosquitto/conf.d),
with a CA, a broker and a client certificate made by the test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.base import IngestError
from ingest.deadletters import SqliteDeadLetters
from ingest.embedded_store import SqliteStore
from ingest.mqtt import MqttIngest
from ingest.settings import IngestConfig
from kizuki.config import Settings
from tests.ingest.broker import SIMULATOR, ShippedBroker
from tests.ingest.helpers import wait_until


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    broker = ShippedBroker(tmp_path, tls=True)
    broker.start()
    yield broker
    broker.stop()


def config(broker: ShippedBroker, unique: str, **tls: object) -> IngestConfig:
    mqtt = {"url": broker.tls_url(), "client_id": f"kz-tls-{unique}", "session_expiry_s": 60, **tls}
    return IngestConfig.of(Settings(mqtt=mqtt, ingest={"receiver": "thread"}))


def publish_tls(broker: ShippedBroker, topic: str, payload: bytes) -> None:
    assert broker.certs is not None
    user, password = SIMULATOR.split(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.username_pw_set(user, password)
    client.tls_set(
        ca_certs=str(broker.certs.ca),
        certfile=str(broker.certs.client_cert),
        keyfile=str(broker.certs.client_key),
    )
    client.connect("localhost", broker.tls_port or 0)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def test_mutual_tls_delivers_telemetry(
    tls_broker: ShippedBroker, unique: str, tmp_path: Path
) -> None:
    certs = tls_broker.certs
    assert certs is not None
    store, letters = SqliteStore(tmp_path / "t.db"), SqliteDeadLetters(tmp_path / "d.db")
    ingest = MqttIngest(
        config(
            tls_broker,
            unique,
            tls_ca_file=certs.ca,
            tls_cert_file=certs.client_cert,
            tls_key_file=certs.client_key,
        ),
        store,
        letters,
    )
    ingest.start()
    try:
        assert ingest.connected()
        reading = {"ts": time.time(), "metrics": {"t": 21.5}}
        publish_tls(tls_broker, f"devices/tls-{unique}/telemetry", orjson.dumps(reading))
        assert wait_until(lambda: ingest.stats()["acked"] >= 1)
        latest = store.latest(f"tls-{unique}")
        assert latest is not None and latest.metrics == {"t": 21.5}
    finally:
        ingest.stop()
        store.close()
        letters.close()


def test_an_untrusted_broker_certificate_is_one_clear_error(
    tls_broker: ShippedBroker, unique: str, tmp_path: Path
) -> None:
    store, letters = SqliteStore(tmp_path / "t.db"), SqliteDeadLetters(tmp_path / "d.db")
    ingest = MqttIngest(config(tls_broker, unique), store, letters)  # system CAs only
    with pytest.raises(IngestError, match="TLS with MQTT broker at localhost:.* certificate"):
        ingest.start()


def test_tls_settings_are_checked_when_read(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ValueError, match="no such file"):
        Settings(mqtt={"url": "mqtts://broker:8883", "tls_ca_file": missing})
    (tmp_path / "ca.pem").write_text("x")
    with pytest.raises(ValueError, match="not mqtts://"):
        Settings(mqtt={"url": "mqtt://broker:1883", "tls_ca_file": tmp_path / "ca.pem"})
    with pytest.raises(ValueError, match="tls_cert_file and mqtt.tls_key_file"):
        Settings(mqtt={"url": "mqtts://broker", "tls_cert_file": tmp_path / "ca.pem"})


def test_the_listener_wants_a_client_certificate(
    tls_broker: ShippedBroker, unique: str, tmp_path: Path
) -> None:
    assert tls_broker.certs is not None
    store, letters = SqliteStore(tmp_path / "t.db"), SqliteDeadLetters(tmp_path / "d.db")
    settings = config(tls_broker, unique, tls_ca_file=tls_broker.certs.ca)  # no client cert
    ingest = MqttIngest(settings, store, letters, connect_timeout_s=3)
    with pytest.raises(IngestError, match="MQTT broker at localhost"):
        ingest.start()
