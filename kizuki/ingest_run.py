"""Run ingest alone until SIGINT/SIGTERM: ``python -m kizuki.ingest_run`` (settings from env).

Prints one line ``ingest ready`` on stdout once subscribed, so supervisors and tests know
when messages are being taken, and ``ingest stopped: {...}`` (the counts, JSON) at exit.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

from core.logs import configure
from ingest.base import IngestError
from ingest.mqtt import MqttIngest
from ingest.settings import IngestConfig
from ingest.stores import open_deadletters, open_store
from kizuki.config import Settings
from kizuki.scale import ingest_config


def serve(settings: Settings, stop: threading.Event, url: str | None = None) -> dict[str, int]:
    """Ingest until ``stop`` is set; return the final counts."""
    store = open_store(settings.store, settings.telemetry_path)
    deadletters = open_deadletters(settings.deadletter_path)
    ingest = MqttIngest(
        ingest_config(IngestConfig.of(settings), settings.worker), store, deadletters, url=url
    )
    try:
        ingest.start()
        print("ingest ready", flush=True)
        stop.wait()
        ingest.stop()
        return ingest.stats()
    finally:
        store.close()
        deadletters.close()


def main() -> int:
    settings = Settings()
    configure(settings.log_level, settings.log_format)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stats = serve(settings, stop)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"ingest stopped: {json.dumps(stats)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
