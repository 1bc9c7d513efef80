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
from ingest.retention import run_pass
from ingest.settings import IngestConfig
from ingest.stores import open_deadletters, open_store
from kizuki.config import Settings
from kizuki.detection import Detection, metrics_for
from kizuki.gate import ReadingGate
from kizuki.journal import EventJournal
from kizuki.worker import make_ingest, open_partitioned_bank, ownership
from tickets.conversation import Inbound
from tickets.db import make_session_factory, migrate
from tickets.directory import DbDeviceDirectory
from tickets.dispatcher import Dispatcher
from tickets.inbound_imap import ImapPoller
from tickets.inbound_mail import MailEndpoint
from tickets.inbox import Accepted, accept
from tickets.mailbox import Mailbox
from tickets.service import CaseService
from tickets.settings import TicketsConfig
from tickets.webhooks import WebhookRelay

log = logging.getLogger(__name__)


class EngineError(RuntimeError):
    """The engine could not start; the message says what to change."""


@dataclass
class EngineCounters:
    readings: int = 0
    batches: int = 0
    anomalies: int = 0
    recoveries: int = 0
    updates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # device -> telemetry time of its first anomaly (one entry per device: bounded)
    first_anomaly: dict[str, float] = field(default_factory=dict, repr=False)


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
        with_dispatcher: bool = True,
        app_hooks: Sequence[Callable[[Any], None]] = (),
    ) -> None:
        self.settings = settings
        self.with_dispatcher = with_dispatcher
        self.app_hooks = tuple(app_hooks)
        self.mail: MailEndpoint | None = None
        self.batch_listeners = tuple(batch_listeners)
        self.mqtt_url = mqtt_url
        self.with_api = with_api
        self.clock = clock
        self.counters = EngineCounters()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._api_server: Any = None
        self._api_thread: threading.Thread | None = None
        self._wake = threading.Event()  # new events in the journal

    def open_storage(self) -> None:
        """Create the data directory, migrate the case DB and open every store."""

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrate(self.settings.cases_url)
        self.session_factory = make_session_factory(self.settings.cases_url)
        self.profiles = load_profiles()
        self.directory = DbDeviceDirectory(self.session_factory)
        self.store = open_store(self.settings.store, self.settings.telemetry_path)
        self.deadletters = open_deadletters(self.settings.deadletter_path)
        self.journal = EventJournal(self.settings.data_dir / "detect-journal.db")

    def start(self) -> None:
        """Load the detectors, catch up after a crash, then start every thread."""
        self.bank = self._load_bank()
        self._warm_up_detectors()
        detect = self.settings.detect
        self.gate = ReadingGate(detect.lateness_s, detect.idle_flush_s)
        self.cases = CaseService(
            self.session_factory,
            self.profiles,
            TicketsConfig.of(self.settings),
            clock=self.clock,
            telemetry=self._telemetry_window,
            evidence=self.gate.watermark,
        )
        self.detection = Detection(
            self.bank,
            self.gate,
            self.journal,
            self.cases.handle,
            detect.update_every_s,
            on_event=self._count_event,
        )
        self._catch_up()
        self.dispatcher = Dispatcher(
            self.session_factory, TicketsConfig.of(self.settings), clock=self.clock
        )
        self.ingest = make_ingest(
            self.settings,
            self.store,
            self.deadletters,
            self.directory,
            self._on_batch,
            self.mqtt_url,
        )
        if self.with_api:
            app = create_app(
                AppConfig.of(self.settings),
                self.session_factory,
                self.store,
                self.deadletters,
                profiles=self.profiles,
                case_service=self.cases,
                clock=self.clock,
                probes=self._probes(),
            )
            for hook in self.app_hooks:
                hook(app)
            self._start_api(app)
        self._start_mail()
        self.ingest.start()
        self._spawn("cases", self._hand_over)
        if self.with_dispatcher:
            self._spawn("dispatcher", lambda: self.dispatcher.run_forever(self._stop))
        self._spawn("housekeeping", self._housekeeping)
        if self.settings.integrations.webhooks:
            relay = WebhookRelay(
                self.session_factory,
                self.settings.integrations.webhooks,
                self.settings.notify.public_base_url,
                policy=self.settings.integrations.policy(),
            )
            for problem in relay.problems():
                log.error("%s; its events wait until that changes", problem)
            self._spawn("webhooks", lambda: relay.run_forever(self._stop))
        self._spawn("retention", self._retention)

    def _retention(self) -> None:
        """Downsample and expire old telemetry and dead letters, every retention_every_s."""
        while not self._stop.wait(min(60.0, self.settings.store.retention_every_s)):
            try:
                run_pass(self.store, self.deadletters, IngestConfig.of(self.settings), time.time())
            except Exception:
                log.exception("retention pass failed; trying again later")
            if self._stop.wait(self.settings.store.retention_every_s):
                return

    def _probes(self) -> dict[str, Callable[[], bool]]:
        """Readiness beyond the API's own: broker connection, store writes, dispatcher."""

        def store_ok() -> bool:
            self.store.latest("__readyz__")
            return self.ingest.store_healthy()

        probes = {"broker_connected": self.ingest.connected, "telemetry_store": store_ok}
        if self.with_dispatcher:
            probes["dispatcher"] = self.dispatcher.alive
        return probes

    def _catch_up(self) -> None:
        """Judge what was acked but not judged before a crash, then agree with the case DB."""
        replayed = self.detection.recover(self.store, metrics_for(self.directory, self.profiles))
        if replayed:
            log.info("replayed %d reading(s) from the store into detection", replayed)
        self.detection.drain()
        self._reconciled = self._reconcile()

    def _reconcile(self) -> bool:
        """True once done (the case DB may be down at start: housekeeping tries again)."""
        if self.journal.counts()["pending"]:
            return False
        try:
            found = self.detection.reconcile(self.session_factory)
        except Exception as exc:
            log.warning("start-up reconciliation postponed: %s", str(exc).splitlines()[0])
            return False
        if found:
            log.warning("reconciliation: %d lost detection event(s) journaled", found)
            self._wake.set()
        return True

    def stop(self) -> None:
        """Drain ingest, save detector state, stop every thread we started (once)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if hasattr(self, "ingest"):
            self.ingest.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.mail is not None:
            self.mail.stop()
        if self._api_server is not None:
            self._api_server.should_exit = True
            if self._api_thread is not None:
                self._api_thread.join(timeout=10)
        if hasattr(self, "detection"):
            self.detection.drain()
            self._save_bank()
        for closable in ("store", "deadletters", "journal"):
            if hasattr(self, closable):
                getattr(self, closable).close()

    # -- the reading path -------------------------------------------------------------

    def _on_batch(self, readings: Sequence[Reading]) -> None:
        """The ingest sink: events are journaled when this returns, before the ack."""
        for listener in self.batch_listeners:
            listener(readings)
        events = self.detection.feed(readings)
        with self.counters.lock:
            self.counters.readings += len(readings)
            self.counters.batches += 1
        if events:
            self._wake.set()

    def _count_event(self, event: AnomalyEvent) -> None:
        ANOMALIES.labels(kind=event.kind).inc()
        with self.counters.lock:
            if event.kind == "recovery":
                self.counters.recoveries += 1
            elif event.kind == "update":
                self.counters.updates += 1
            else:
                self.counters.anomalies += 1
                self.counters.first_anomaly.setdefault(event.device_id, event.ts)

    def _hand_over(self) -> None:
        """The journal to the case service, whenever there is something new (and every
        second, to retry after an outage)."""
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            self.detection.drain()

    def _telemetry_window(self, device_id: str, start: float, end: float) -> dict[str, Any]:
        model = self.directory(device_id)
        profile = self.profiles.get(model or "")
        metrics = list(profile.metrics) if profile else []
        return {m: self.store.query(device_id, m, start, end) for m in metrics}

    # -- background work --------------------------------------------------------------

    def _housekeeping(self) -> None:
        last_save = time.monotonic()
        while not self._stop.wait(1.0):
            self.ingest.watch_store()
            try:
                self.cases.tick()
            except Exception:
                log.exception("auto-resolve pass failed")
            if self.detection.flush_idle():
                self._wake.set()
            if not self._reconciled:
                self._reconciled = self._reconcile()
            self._learn_from_labels()
            if time.monotonic() - last_save >= self.settings.detect.checkpoint_every_s:
                self._save_bank()
                last_save = time.monotonic()

    def _learn_from_labels(self) -> None:
        try:
            self.detection.learn(self.session_factory, self.settings.checkpoint_path)
        except Exception:
            log.exception("could not apply detector labels")

    def _warm_up_detectors(self) -> None:

        log.info("preparing the detector kernel (compiled once, then cached)")
        seconds = warm_up()
        if seconds > 2.0:
            log.info("detector kernel compiled in %.1f s; later starts load it from cache", seconds)

    def _load_bank(self) -> Any:
        cohort = self.directory.zone_of  # the customer's zone, from the directory's cache
        owned = ownership(self.settings)
        if owned is not None:  # one bank and one checkpoint per owned partition
            return open_partitioned_bank(
                self.settings,
                owned,
                lambda path: DetectorBank.load(path, self.profiles, self.directory, cohort),
                lambda: DetectorBank(self.profiles, self.directory, self._bank_config(), cohort),
            )
        path = self.settings.checkpoint_path
        if path.exists():
            try:
                return DetectorBank.load(path, self.profiles, self.directory, cohort)
            except Exception as exc:
                log.warning("detector checkpoint %s unreadable (%s); starting fresh", path, exc)
        return DetectorBank(self.profiles, self.directory, self._bank_config(), cohort)

    def _bank_config(self) -> Any:

        peers = PeerConfig(refit_every_s=self.settings.detect.peer_retrain_every_s)
        return BankConfig(peers=peers)

    def _save_bank(self) -> None:
        try:
            self.detection.save(self.settings.checkpoint_path)
        except Exception:
            log.exception("could not save detector checkpoint")

    def _start_api(self, app: Any) -> None:

        config = uvicorn.Config(
            app,
            host=self.settings.api.host,
            port=self.settings.api.port,
            log_level="warning",
            log_config=None,  # our handlers and format (core.logs)
            access_log=False,
            proxy_headers=False,  # api.trusted_proxies decides whom to believe (api.clients)
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

    def _start_mail(self) -> None:
        """The SMTP endpoint for customers' e-mail replies, if ``inbound.smtp_port``, and
        the IMAP poller, if ``inbound.imap_url``."""
        inbound = self.settings.inbound

        def accept_mail(message: Inbound) -> Accepted:
            return accept(
                self.session_factory, self.profiles, message, self.clock, inbound.self_service
            )

        if inbound.imap_url:
            poller = ImapPoller(
                accept_mail,
                Mailbox.parse(inbound.imap_url),
                inbound.imap_password.get_secret_value(),
                inbound.max_bytes,
            )
            self._spawn("imap", lambda: poller.run_forever(self._stop, inbound.imap_every_s))
        if not inbound.smtp_port:
            return
        endpoint = MailEndpoint(
            accept_mail, inbound.smtp_host, inbound.smtp_port, inbound.max_bytes
        )
        try:
            endpoint.start()
        except (OSError, RuntimeError) as exc:
            raise EngineError(
                f"SMTP endpoint cannot listen on {inbound.smtp_host}:{inbound.smtp_port} "
                f"({exc}); set KIZUKI_INBOUND__SMTP_PORT to a free port or 0"
            ) from None
        self.mail = endpoint

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
