"""Wire the packages into one running engine: ingest -> detection -> cases -> dispatch -> API.

Nothing else imports this module's peers together; ``kizuki run`` and ``kizuki demo``
build an :class:`Engine` from :class:`~kizuki.config.Settings` and start it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from anomaly.bank import BankConfig, DetectorBank
from anomaly.block import warm_up
from anomaly.peers import PeerConfig
from api.main import create_app
from api.settings import AppConfig
from core.events import AnomalyEvent
from core.metrics import ANOMALIES
from core.profiles import load_profiles
from core.readings import Reading
from ingest.stores import open_deadletters, open_store
from kizuki.config import Settings
from kizuki.worker import make_ingest, open_partitioned_bank, ownership
from tickets.db import make_session_factory, migrate
from tickets.directory import DbDeviceDirectory
from tickets.dispatcher import Dispatcher
from tickets.feedback import false_positives
from tickets.service import CaseService
from tickets.settings import TicketsConfig

log = logging.getLogger(__name__)


class EngineError(RuntimeError):
    """The engine could not start; the message says what to change."""


@dataclass
class EngineCounters:
    readings: int = 0
    batches: int = 0
    anomalies: int = 0
    recoveries: int = 0
    case_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Engine:
    """Every long-running part of Kizuki, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        mqtt_url: str,
        *,
        with_api: bool = True,
        clock: Callable[[], float] = time.time,
        batch_listeners: Sequence[Callable[[Sequence[Reading]], None]] = (),
    ) -> None:
        self.settings = settings
        self.batch_listeners = tuple(batch_listeners)
        self.mqtt_url = mqtt_url
        self.with_api = with_api
        self.clock = clock
        self.counters = EngineCounters()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._api_server: Any = None
        self._api_thread: threading.Thread | None = None
        self.events: list[AnomalyEvent] = []

    def open_storage(self) -> None:
        """Create the data directory, migrate the case DB and open every store."""

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrate(self.settings.cases_url)
        self.session_factory = make_session_factory(self.settings.cases_url)
        self.profiles = load_profiles()
        self.directory = DbDeviceDirectory(self.session_factory)
        self.store = open_store(self.settings.store, self.settings.telemetry_path)
        self.deadletters = open_deadletters(self.settings.deadletter_path)

    def start(self) -> None:

        self.bank = self._load_bank()
        self._warm_up_detectors()
        self.cases = CaseService(
            self.session_factory,
            self.profiles,
            TicketsConfig.of(self.settings),
            clock=self.clock,
            telemetry=self._telemetry_window,
        )
        self.dispatcher = Dispatcher(
            self.session_factory, TicketsConfig.of(self.settings), clock=self.clock
        )
        self.ingest = make_ingest(
            self.settings, self.store, self.deadletters, self.directory, self._on_batch,
            self.mqtt_url,
        )  # fmt: skip
        if self.with_api:
            app = create_app(
                AppConfig.of(self.settings),
                self.session_factory,
                self.store,
                self.deadletters,
                profiles=self.profiles,
                case_service=self.cases,
                clock=self.clock,
            )
            self._start_api(app)
        self.ingest.start()
        self._spawn("dispatcher", lambda: self.dispatcher.run_forever(self._stop))
        self._spawn("housekeeping", self._housekeeping)

    def stop(self) -> None:
        """Drain ingest, save detector state, stop every thread we started."""
        self._stop.set()
        if hasattr(self, "ingest"):
            self.ingest.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._api_server is not None:
            self._api_server.should_exit = True
            if self._api_thread is not None:
                self._api_thread.join(timeout=10)
        if hasattr(self, "bank"):
            self._save_bank()
        for closable in ("store", "deadletters"):
            if hasattr(self, closable):
                getattr(self, closable).close()

    # -- the reading path -------------------------------------------------------------

    def _on_batch(self, readings: Sequence[Reading]) -> None:
        for listener in self.batch_listeners:
            listener(readings)
        events = self.bank.update(readings)
        with self.counters.lock:
            self.counters.readings += len(readings)
            self.counters.batches += 1
        for event in events:
            self._handle_event(event)

    def _handle_event(self, event: AnomalyEvent) -> None:
        ANOMALIES.labels(kind=event.kind).inc()
        with self.counters.lock:
            if event.kind == "recovery":
                self.counters.recoveries += 1
            else:
                self.counters.anomalies += 1
            self.events.append(event)
        try:
            self.cases.handle(event)
        except Exception:  # one bad event must not stop the stream
            self.counters.case_errors += 1
            log.exception("case service failed on %s/%s", event.device_id, event.failure_mode)

    def _telemetry_window(self, device_id: str, start: float, end: float) -> dict[str, Any]:
        model = self.directory(device_id)
        profile = self.profiles.get(model or "")
        metrics = list(profile.metrics) if profile else []
        return {m: self.store.query(device_id, m, start, end) for m in metrics}

    # -- background work --------------------------------------------------------------

    def _housekeeping(self) -> None:
        last_save = time.monotonic()
        while not self._stop.wait(1.0):
            try:
                self.cases.tick()
            except Exception:
                log.exception("auto-resolve pass failed")
            self._learn_from_feedback()
            if time.monotonic() - last_save >= self.settings.detect.checkpoint_every_s:
                self._save_bank()
                last_save = time.monotonic()

    def _learn_from_feedback(self) -> None:
        """Customer-labelled false positives make the detectors accept that level."""

        try:
            labels = false_positives(self.session_factory, after_id=self.bank.labels_applied)
            applied = self.bank.apply_labels(labels)
        except Exception:
            log.exception("could not apply feedback labels to the detectors")
            return
        if applied:
            log.info("detectors learnt from %d labelled false positive(s)", applied)

    def _warm_up_detectors(self) -> None:

        log.info("preparing the detector kernel (compiled once, then cached)")
        seconds = warm_up()
        if seconds > 2.0:
            log.info("detector kernel compiled in %.1f s; later starts load it from cache", seconds)

    def _load_bank(self) -> Any:
        owned = ownership(self.settings)
        if owned is not None:  # one bank and one checkpoint per owned partition
            return open_partitioned_bank(
                self.settings, owned,
                lambda path: DetectorBank.load(path, self.profiles, self.directory),
                lambda: DetectorBank(self.profiles, self.directory, self._bank_config()),
            )  # fmt: skip
        path = self.settings.checkpoint_path
        if path.exists():
            try:
                return DetectorBank.load(path, self.profiles, self.directory)
            except Exception as exc:
                log.warning("detector checkpoint %s unreadable (%s); starting fresh", path, exc)
        return DetectorBank(self.profiles, self.directory, self._bank_config())

    def _bank_config(self) -> Any:

        peers = PeerConfig(refit_every_s=self.settings.detect.peer_retrain_every_s)
        return BankConfig(peers=peers)

    def _save_bank(self) -> None:
        try:
            self.bank.save(self.settings.checkpoint_path)
        except Exception:
            log.exception("could not save detector checkpoint")

    def _start_api(self, app: Any) -> None:

        config = uvicorn.Config(
            app,
            host=self.settings.api.host,
            port=self.settings.api.port,
            log_level="warning",
            access_log=False,
        )
        self._api_server = uvicorn.Server(config)
        thread = threading.Thread(target=self._api_server.run, name="api", daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not self._api_server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise EngineError(
                    f"web server did not start on {self.settings.api.host}:"
                    f"{self.settings.api.port}; set KIZUKI_API__PORT to a free port"
                )
            time.sleep(0.05)
        self._api_thread = thread

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
