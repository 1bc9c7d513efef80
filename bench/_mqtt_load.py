"""MQTT load for the ingest benchmark: a private broker, backlog and paced publishers."""

from __future__ import annotations

import getpass
import random
import shutil
import socket
import subprocess
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ("kizuki-engine", "engine-dev-password")
PUBLISHER = ("kizuki-simulator", "simulator-dev-password")
TOPIC = "devices/+/telemetry"
# aircon-x1 metrics around their normal midpoints, with their profile's noise
METRICS = {
    "cooling_delta_c": (10.0, 0.4),
    "compressor_current_a": (5.25, 0.15),
    "filter_dp_pa": (55.0, 2.0),
    "fan_rpm": (1200.0, 8.0),
}


def engine_client(client_id: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.username_pw_set(*ENGINE)
    return client


def connect(client: paho.Client, url: str) -> None:
    host, port = url.rsplit("@", 1)[-1].split(":")
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600
    props.ReceiveMaximum = 20000  # as MqttIngest asks (its queue size)
    client.connect(host, int(port), clean_start=False, properties=props)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Mosquitto with the shipped config on a free loopback port."""
    port, deploy = _free_port(), ROOT / "deploy" / "mosquitto"
    conf = (
        (deploy / "mosquitto.conf")
        .read_text()
        .replace("listener 1883", f"listener {port} 127.0.0.1")
    )
    conf = conf.replace("/mosquitto/config/", f"{workdir}/").replace(
        "/mosquitto/data/", f"{workdir}/"
    )
    conf = conf.replace("persistence true", "persistence false")
    (workdir / "mosquitto.conf").write_text(conf + f"\nuser {getpass.getuser()}\n")
    for name in ("passwd", "acl"):
        shutil.copy(deploy / name, workdir / name)
    (workdir / "conf.d").mkdir(exist_ok=True)  # the shipped config includes it (TLS)
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(workdir / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    raise SystemExit("mosquitto did not start")


def make_session(url: str, client_id: str) -> None:
    client = engine_client(client_id)
    client.on_connect = lambda c, *_: c.subscribe(TOPIC, qos=1)
    client.on_subscribe = lambda c, *_: c.disconnect()
    connect(client, url)
    client.loop_forever()


def backlog(port: int, n: int, devices: int, order: str = "time") -> float:
    """Queue n readings from ``devices`` devices (one a minute each); seconds it took.

    ``order="time"``: in time order across the fleet, as a fleet's backlog piles up while
    the engine is away (one paho publisher). ``order="device"``: each device's history in
    one piece (parallel ``mosquitto_pub -l``, fast), as a replay of stored histories.
    """
    per = [n // devices + (1 if i < n % devices else 0) for i in range(devices)]
    start = time.time()
    if order == "device":
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda i: _device_history(port, i, per[i]), range(devices)))
    else:
        _fleet_history(port, per)
    return time.time() - start


def _device_history(port: int, i: int, count: int) -> None:
    rng, ts = random.Random(i), time.time() - 60.0 * count
    lines = b"\n".join(payload(ts + 60.0 * k, rng) for k in range(count)) + b"\n"
    topic = f"devices/bench-{i:04d}/telemetry"
    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-q",
            "1",
            "-M",
            "1000",
            "-u",
            PUBLISHER[0],
            "-P",
            PUBLISHER[1],
            "-t",
            topic,
            "-l",
        ],
        input=lines,
        check=True,
    )


def _fleet_history(port: int, per: list[int]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.username_pw_set(*PUBLISHER)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    rngs, now = [random.Random(i) for i in range(len(per))], time.time()
    window: deque[paho.MQTTMessageInfo] = deque()
    for k in range(max(per)):
        for i, count in enumerate(per):
            if k < count:
                ts = now - 60.0 * (count - k)
                topic = f"devices/bench-{i:04d}/telemetry"
                window.append(client.publish(topic, payload(ts, rngs[i]), qos=1))
                if len(window) >= 1000:  # keep paho's outgoing queue bounded
                    window.popleft().wait_for_publish(120)
    for info in window:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def paced(port: int, n: int, devices: int, rate: float) -> None:
    """Publish n readings at ``rate``/s from a paho client, ts = publish time."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.username_pw_set(*PUBLISHER)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start, infos, rng = time.time(), [], random.Random(0)
    for k in range(n):
        topic = f"devices/bench-{k % devices:04d}/telemetry"
        infos.append(client.publish(topic, payload(time.time(), rng), qos=1))
        if k % 100 == 99:
            time.sleep(max(0.0, start + (k + 1) / rate - time.time()))
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def payload(ts: float, rng: random.Random) -> bytes:
    """One aircon-x1 reading: every metric near its normal midpoint, with profile noise."""
    values = {m: round(mid + rng.gauss(0, sd), 3) for m, (mid, sd) in METRICS.items()}
    return orjson.dumps({"ts": round(ts, 3), "metrics": values})
