"""The shipped deployment: docker-compose.yml validates; the Mosquitto config does what it says."""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from ingest.base import IngestError
from ingest.deadletters import SqliteDeadLetters
from ingest.embedded_store import SqliteStore
from ingest.mqtt import MqttIngest
from kizuki.config import Settings
from tests.conftest import free_port
from tests.ingest.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "mosquitto"
ENGINE = "kizuki-engine:engine-dev-password"


def test_compose_file_is_valid_and_wires_the_stack() -> None:
    out = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    services = yaml.safe_load(out.stdout)["services"]
    assert set(services) == {"mosquitto", "influxdb", "kizuki", "mailpit"}
    env = services["kizuki"]["environment"]
    assert env["KIZUKI_STORE__BACKEND"] == "influxdb"
    assert (
        env["KIZUKI_STORE__INFLUX_TOKEN"]
        == (services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"])
    )
    assert env["KIZUKI_MQTT__URL"].startswith("mqtt://kizuki-engine:")
    assert services["kizuki"]["build"]["context"] == str(ROOT)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """Mosquitto running the shipped config, moved to a free loopback port and temp dirs."""
    port = free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    conf = conf.replace("/mosquitto/config/", f"{tmp_path}/").replace(
        "/mosquitto/data/", f"{tmp_path}/"
    )
    # As root, mosquitto would drop to its own user, which cannot read pytest's temp dirs.
    (tmp_path / "mosquitto.conf").write_text(conf + f"\nuser {getpass.getuser()}\n")
    for name in ("passwd", "acl"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_until(lambda: _port_open(port), timeout=10)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ingest(address: str, tmp: Path, creds: str = ENGINE) -> MqttIngest:
    settings = Settings(mqtt={"url": f"mqtt://{creds}@{address}", "session_expiry_s": 600})
    return MqttIngest(settings, SqliteStore(tmp / "t.db"), SqliteDeadLetters(tmp / "d.db"))


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
