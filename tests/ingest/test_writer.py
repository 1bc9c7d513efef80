"""The committer while the real store is down: it keeps saying so, then recovers."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from core.readings import Reading
from ingest.deadletters import SqliteDeadLetters
from ingest.decode import DecodedBatch, Inbound
from ingest.influx_store import InfluxStore
from ingest.writer import Committer
from tests.ingest.helpers import wait_until
from tests.ingest.services import Service, vm_points


def test_store_down_is_logged_again_while_it_lasts(
    own_victoria: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture, unique: str
) -> None:
    store = InfluxStore(own_victoria.url, "", "kizuki", "telemetry")
    letters = SqliteDeadLetters(tmp_path / "d.db")
    committer = Committer(store, letters, None, still_down_log_s=0.5)
    now, dev = time.time(), f"w{unique}"
    batch = DecodedBatch(
        [Inbound(f"devices/{dev}/telemetry", b"{}", now)], [Reading(dev, now, {"t": 1.0})], [0]
    )

    def lines(text: str) -> int:
        return sum(text in r.getMessage() for r in caplog.records)

    own_victoria.stop()
    caplog.set_level(logging.WARNING, logger="ingest.writer")
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: committer.commit(batch, threading.Event()) and done.set()
    )
    worker.start()
    try:
        assert wait_until(lambda: lines("store still down after") >= 2, timeout=60)
    finally:
        own_victoria.start()
        worker.join(60)
    assert done.is_set()
    assert lines("store write failed, holding acknowledgements") == 1
    assert lines("store is back after") == 1
    assert vm_points(own_victoria.url, "t")[dev] == [(round(now * 1000), 1.0)]
    store.close()
    letters.close()
