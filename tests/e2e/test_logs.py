"""One log format everywhere: `kizuki --log-format json run` writes one JSON object per
line, the MQTT receiver child included, each with an ISO 8601 UTC timestamp."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

from core.logs import TextFormatter
from tests.conftest import free_port
from tests.e2e.test_cli import KIZUKI, env_for
from tests.ingest.broker import ShippedBroker

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_json_logs_from_the_engine_and_its_receiver_child(tmp_path: Path) -> None:
    broker = ShippedBroker(tmp_path)
    broker.start()
    env = env_for(tmp_path, KIZUKI_MQTT__URL=broker.url())
    args = [*KIZUKI, "--log-format", "json", "run", "--port", str(free_port())]
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines: list[dict[str, object]] = []
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.append(json.loads(raw))  # every line is JSON
            if "kizuki running" in str(lines[-1]["message"]):
                break
        broker.stop()  # the receiver child notices and logs it
        for raw in proc.stderr:
            lines.append(json.loads(raw))
            if "connection lost" in str(lines[-1]["message"]):
                break
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
    assert {int(str(line["pid"])) for line in lines} >= {proc.pid}
    child = [line for line in lines if line["logger"] == "ingest.receiver"]
    assert child and child[-1]["pid"] != proc.pid and child[-1]["level"] == "WARNING"
    assert all(ISO.match(str(line["ts"])) for line in lines)


def test_text_lines_start_with_an_iso_timestamp() -> None:
    record = logging.LogRecord("kizuki.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.created = time.time()
    line = TextFormatter().format(record)
    stamp, rest = line.split(" ", 1)
    assert ISO.match(stamp) and datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert rest.startswith("INFO    kizuki.x [pid ") and rest.endswith("]: hello you")
