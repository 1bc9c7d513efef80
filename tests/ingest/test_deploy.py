"""The shipped deployment: docker-compose.yml validates; the Mosquitto config does what it says."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from ingest.base import IngestError
from ingest.deadletters import SqliteDeadLetters
from ingest.embedded_store import SqliteStore
from ingest.mqtt import MqttIngest
from ingest.settings import IngestConfig
from kizuki.config import Settings
from tests.ingest.broker import DEPLOY, ShippedBroker
from tests.ingest.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
ENGINE = "kizuki-engine:engine-dev-password"


def compose_config(project: Path) -> dict[str, Any]:
    """``docker-compose config`` with an .env made from deploy/env.example in ``project``."""
    example = (ROOT / "deploy" / "env.example").read_text()
    (project / ".env").write_text(re.sub(r"^(\w+)=$", r"\1=test-\1", example, flags=re.M))
    out = subprocess.run(
        [
            "docker-compose",
            "--project-directory",
            str(project),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=project,
    )
    config: dict[str, Any] = yaml.safe_load(out.stdout)
    return config


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            "docker-compose",
            "--project-directory",
            str(tmp_path),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode != 0 and "in .env" in out.stderr


def test_compose_file_is_valid_and_wires_the_stack(tmp_path: Path) -> None:
    services = compose_config(tmp_path)["services"]
    assert set(services) == {"mosquitto", "influxdb", "kizuki", "mailpit"}
    env = services["kizuki"]["environment"]
    assert env["KIZUKI_STORE__BACKEND"] == "influxdb"
    assert (
        env["KIZUKI_STORE__INFLUX_TOKEN"]
        == (services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"])
    )
    assert env["KIZUKI_MQTT__URL"].startswith("mqtts://kizuki-engine:")
    assert services["kizuki"]["build"]["context"] == str(tmp_path)


def test_engine_session_outlives_a_week_away_like_the_broker_keeps_it(tmp_path: Path) -> None:
    """An engine down longer than its session expiry loses the broker's backlog silently."""
    env = compose_config(tmp_path)["services"]["kizuki"]["environment"]
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    [expiry] = re.findall(r"^persistent_client_expiration (\d+)d$", conf, re.MULTILINE)
    week = int(expiry) * 86400
    assert week == 7 * 86400
    assert int(env["KIZUKI_MQTT__SESSION_EXPIRY_S"]) == week
    assert Settings().mqtt.session_expiry_s == week


@pytest.fixture
def broker(shipped: ShippedBroker) -> str:
    return shipped.address


def _ingest(address: str, tmp: Path, creds: str = ENGINE) -> MqttIngest:
    settings = Settings(mqtt={"url": f"mqtt://{creds}@{address}", "session_expiry_s": 600})
    return MqttIngest(
        IngestConfig.of(settings), SqliteStore(tmp / "t.db"), SqliteDeadLetters(tmp / "d.db")
    )


def _device_publish(
    address: str, user: str, password: str, topic: str, payloads: list[bytes]
) -> None:
    host, port = address.split(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.username_pw_set(user, password)
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def test_wrong_password_is_one_clear_line(broker: str, tmp_path: Path) -> None:
    with pytest.raises(IngestError) as err:
        _ingest(broker, tmp_path, "kizuki-engine:wrong").start()
    assert str(err.value) == (
        f"MQTT broker at {broker} refused the connection as user 'kizuki-engine': "
        "Not authorized; check the credentials in KIZUKI_MQTT__URL"
    )


def test_acl_pins_devices_and_backlog_beyond_1000_is_kept(broker: str, tmp_path: Path) -> None:
    ingest = _ingest(broker, tmp_path)
    ingest.start()
    ingest.stop()  # the engine's persistent session exists; now it is away
    now = time.time()
    own = [
        orjson.dumps({"ts": now + i / 1000, "metrics": {"fan_rpm": 1000 + i % 100}})
        for i in range(2500)
    ]
    _device_publish(broker, "ac-00001", "device-dev-password", "devices/ac-00001/telemetry", own)
    forged = [orjson.dumps({"ts": now, "metrics": {"fan_rpm": 1}})]
    _device_publish(broker, "ac-00001", "device-dev-password", "devices/ac-00002/telemetry", forged)
    ingest = _ingest(broker, tmp_path)
    ingest.start()
    try:
        assert wait_until(lambda: ingest.stats()["acked"] >= 2500, timeout=30)
        time.sleep(0.3)
    finally:
        ingest.stop()
    store = SqliteStore(tmp_path / "t.db")
    assert len(store.query("ac-00001", "fan_rpm", now - 1, now + 10)) == 2500
    assert store.latest("ac-00002") is None
    assert ingest.stats()["received"] == 2500


def test_broker_restart_mid_stream_loses_and_doubles_nothing(
    shipped: ShippedBroker, tmp_path: Path
) -> None:
    """Acks held across a reconnect are dropped; the broker redelivers; the key dedups."""
    batches: list[int] = []

    def slow_sink(batch: list[object]) -> None:
        batches.append(len(batch))
        time.sleep(0.05)

    settings = Settings(
        mqtt={"url": f"mqtt://{ENGINE}@{shipped.address}", "session_expiry_s": 600},
        store={"batch_size": 100},
    )
    store = SqliteStore(tmp_path / "t.db")
    ingest = MqttIngest(
        IngestConfig.of(settings), store, SqliteDeadLetters(tmp_path / "d.db"), sink=slow_sink
    )
    ingest.start()
    now = time.time()
    payloads = [
        orjson.dumps({"ts": now + i / 1000, "metrics": {"fan_rpm": i}}) for i in range(3000)
    ]
    try:
        _device_publish(
            shipped.address,
            "ac-00001",
            "device-dev-password",
            "devices/ac-00001/telemetry",
            payloads[:2000],
        )
        assert wait_until(lambda: ingest.stats()["acked"] >= 200)
        shipped.stop()  # clean shutdown: the session and its unacked messages are saved
        shipped.start()
        _device_publish(
            shipped.address,
            "ac-00001",
            "device-dev-password",
            "devices/ac-00001/telemetry",
            payloads[2000:],
        )
        points = lambda: len(store.query("ac-00001", "fan_rpm", now - 1, now + 10))  # noqa: E731
        assert wait_until(lambda: points() == 3000, timeout=60)
        time.sleep(0.5)
    finally:
        ingest.stop()
    assert ingest.stats()["connections"] == 2
    assert points() == 3000
    assert ingest.stats()["received"] > 3000  # messages in flight at the restart came twice


def _conf_value(name: str) -> int:
    conf = (DEPLOY / "mosquitto.conf").read_text()
    values = [line.split()[1] for line in conf.splitlines() if line.startswith(name + " ")]
    assert len(values) == 1, name
    return int(values[0])


def test_the_shipped_broker_bounds_its_memory() -> None:
    queued, limit = _conf_value("max_queued_bytes"), _conf_value("memory_limit")
    assert _conf_value("max_queued_messages") == 0  # no silent drop at a message count
    # the documented sizing: 10,000 devices x 60/h x 6 h x 400 B fits, and the broker's
    # own cap sits above the engine's queue
    assert 10_000 * 60 * 6 * 400 <= queued < limit
