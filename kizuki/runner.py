"""Long-running commands (``run``, ``api``) and the small admin helpers behind the CLI."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kizuki.config import Settings

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """Start-up failed for a reason the user can fix; the message says how."""


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT/SIGTERM, so the main thread can wait and then shut down."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def with_port(settings: Settings, port: int | None) -> Settings:
    if port is None:
        return settings
    api = settings.api.model_copy(update={"port": port})
    return settings.model_copy(update={"api": api})


def check_api_port(settings: Settings) -> None:
    from kizuki.broker import port_is_free

    if settings.api.port and not port_is_free(settings.api.port, settings.api.host):
        raise StartupError(
            f"port {settings.api.port} on {settings.api.host} is taken; "
            "pass --port or set KIZUKI_API__PORT"
        )


def start_engine(
    settings: Settings, mqtt_url: str, with_api: bool = True, clock: Any = None
) -> Any:
    """Open storage and start every part; translate start-up failures into one line.

    ``clock`` (default: the wall clock) may be a :class:`~core.clock.ReplayClock`, which
    then follows the committed telemetry.
    """
    from core.clock import ReplayClock
    from ingest.base import IngestError
    from kizuki.engine import Engine, EngineError

    if with_api:
        check_api_port(settings)
    if clock is None:
        engine = Engine(settings, mqtt_url, with_api=with_api)
    else:
        listeners = [clock.observe] if isinstance(clock, ReplayClock) else []
        engine = Engine(settings, mqtt_url, with_api=with_api, clock=clock,
                        batch_listeners=listeners)  # fmt: skip
    try:
        engine.open_storage()
        engine.start()
    except (IngestError, EngineError) as exc:
        engine.stop()
        raise StartupError(str(exc)) from None
    except OSError as exc:
        engine.stop()
        raise StartupError(f"cannot open data directory {settings.data_dir}: {exc}") from None
    return engine


def run_engine(settings: Settings, port: int | None, with_api: bool) -> None:
    settings = with_port(settings, port)
    nats = settings.ingest.transport == "nats"
    if settings.mqtt.url is None and not nats:
        raise StartupError("set KIZUKI_MQTT__URL")
    engine = start_engine(settings, settings.mqtt.url or "", with_api)
    where = f"http://{settings.api.host}:{settings.api.port}/" if with_api else "no web UI"
    source = f"NATS {', '.join(settings.nats.urls)}" if nats else f"broker {settings.mqtt.url}"
    log.info("kizuki running: %s, %s", source, where)
    with stop_on_signals() as stop:
        stop.wait()
    log.info("stopping")
    engine.stop()


def serve_api(settings: Settings, port: int | None) -> None:
    import uvicorn

    from api.main import create_app
    from api.settings import AppConfig
    from core.profiles import load_profiles
    from ingest.stores import open_deadletters, open_store
    from tickets.db import make_session_factory, migrate

    settings = with_port(settings, port)
    check_api_port(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.cases_url)
    app = create_app(
        AppConfig.of(settings),
        make_session_factory(settings.cases_url),
        open_store(settings.store, settings.telemetry_path),
        open_deadletters(settings.deadletter_path),
        profiles=load_profiles(),
    )
    uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_level="warning")


def import_fleet_file(settings: Settings, path: Path) -> dict[str, int]:
    from tickets.db import make_session_factory, migrate
    from tickets.registry import import_manifest

    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StartupError(f"cannot read fleet manifest {path}: {exc}") from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.cases_url)
    result = import_manifest(make_session_factory(settings.cases_url), manifest)
    return result if isinstance(result, dict) else {"devices": len(manifest.get("devices", []))}


def add_user(settings: Settings, username: str, password: str, role: str) -> None:
    from api.auth import create_user
    from tickets.db import make_session_factory, migrate

    migrate(settings.cases_url)
    create_user(make_session_factory(settings.cases_url), username, password, role)


def add_api_key(settings: Settings, name: str, role: str) -> str:
    from api.auth import create_api_key
    from tickets.db import make_session_factory, migrate

    migrate(settings.cases_url)
    return str(create_api_key(make_session_factory(settings.cases_url), name, role))
