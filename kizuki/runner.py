"""Long-running commands (``run``, ``api``) and the small admin helpers behind the CLI."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from kizuki.config import Settings
from kizuki.keys import SecretFileError, with_secret

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
    """``StartupError`` saying what to change when the API could not listen."""
    from kizuki.broker import bind_problem

    if not settings.api.port:
        return
    problem = bind_problem(settings.api.host, settings.api.port)
    if problem is None:
        return
    fix = "pass --port or set KIZUKI_API__PORT" if "taken" in problem else "set KIZUKI_API__HOST"
    raise StartupError(f"{problem}; {fix}")


def open_cases_db(settings: Settings) -> sessionmaker[Session]:
    """A session factory on the migrated case database; ``StartupError`` in one line."""
    from tickets.db import DatabaseError, make_session_factory, migrate

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrate(settings.cases_url)
    except OSError as exc:
        raise StartupError(f"cannot create data directory {settings.data_dir}: {exc}") from None
    except DatabaseError as exc:
        raise StartupError(f"{exc}; {DB_HINT}") from None
    return make_session_factory(settings.cases_url)


DB_HINT = "check KIZUKI_CASES__DB_URL (or KIZUKI_DATA_DIR for the default SQLite file)"


def announce_first_admin(session_factory: sessionmaker[Session]) -> None:
    """On a case database without logins, create ``admin`` and print its password once."""
    from api.auth import ensure_first_admin

    password = ensure_first_admin(session_factory)
    if password is not None:
        print(  # noqa: T201 - shown once, on the console of whoever installed Kizuki
            "kizuki: first start: created web login 'admin' with password "
            f"{password} (shown only now; change it with `kizuki user add admin --ask`)",
            flush=True,
        )


def start_engine(
    settings: Settings,
    mqtt_url: str,
    with_api: bool = True,
    clock: Any = None,
    with_dispatcher: bool = True,
    app_hooks: tuple[Any, ...] = (),
) -> Any:
    """Open storage and start every part; translate start-up failures into one line.

    ``clock`` (default: the wall clock) may be a :class:`~core.clock.ReplayClock`, which
    then follows the committed telemetry.
    """
    from core.clock import ReplayClock
    from ingest.base import IngestError
    from kizuki.engine import Engine, EngineError
    from tickets.db import DatabaseError

    if with_api:
        check_api_port(settings)
    settings = secured(settings)
    if clock is None:
        engine = Engine(
            settings,
            mqtt_url,
            with_api=with_api,
            with_dispatcher=with_dispatcher,
            app_hooks=app_hooks,
        )
    else:
        listeners = [clock.observe] if isinstance(clock, ReplayClock) else []
        engine = Engine(
            settings,
            mqtt_url,
            with_api=with_api,
            clock=clock,
            batch_listeners=listeners,
            with_dispatcher=with_dispatcher,
            app_hooks=app_hooks,
        )
    try:
        engine.open_storage()
        engine.start()
    except (IngestError, EngineError) as exc:
        engine.stop()
        raise StartupError(str(exc)) from None
    except DatabaseError as exc:
        engine.stop()
        raise StartupError(f"{exc}; {DB_HINT}") from None
    except (OSError, sqlite3.Error) as exc:
        engine.stop()
        raise StartupError(f"cannot open data in {settings.data_dir}: {exc}") from None
    return engine


def secured(settings: Settings) -> Settings:
    """``settings`` with the signing secret of the data directory (:mod:`kizuki.keys`)."""
    try:
        return with_secret(settings)
    except (SecretFileError, OSError) as exc:
        raise StartupError(str(exc)) from None


def run_engine(
    settings: Settings, port: int | None, with_api: bool, with_dispatcher: bool = True
) -> None:
    """``kizuki run``: everything (or without the API / the dispatcher) until a signal."""
    settings = with_port(settings, port)
    nats = settings.ingest.transport == "nats"
    if settings.mqtt.url is None and not nats:
        raise StartupError("set KIZUKI_MQTT__URL")
    engine = start_engine(
        settings, settings.mqtt.url or "", with_api, with_dispatcher=with_dispatcher
    )
    announce_first_admin(engine.session_factory)
    where = f"http://{settings.api.host}:{settings.api.port}/" if with_api else "no web UI"
    source = f"NATS {', '.join(settings.nats.urls)}" if nats else f"broker {settings.mqtt.url}"
    log.info("kizuki running: %s, %s", source, where)
    with stop_on_signals() as stop:
        stop.wait()
    log.info("stopping")
    engine.stop()


def run_dispatcher(settings: Settings) -> None:
    """``kizuki dispatch``: only the notification dispatcher, until a signal."""
    from tickets.channels import ChannelConfigError
    from tickets.dispatcher import Dispatcher
    from tickets.settings import TicketsConfig

    factory = open_cases_db(settings)
    try:
        dispatcher = Dispatcher(factory, TicketsConfig.of(settings))
    except ChannelConfigError as exc:
        raise StartupError(str(exc)) from None
    log.info("dispatcher running over %s", settings.cases_url)
    with stop_on_signals() as stop:
        dispatcher.run_forever(stop)
    log.info("dispatcher stopped")


def serve_api(settings: Settings, port: int | None) -> None:
    import uvicorn

    from api.main import create_app
    from api.settings import AppConfig
    from core.profiles import load_profiles
    from ingest.stores import open_deadletters, open_store

    settings = with_port(settings, port)
    check_api_port(settings)
    settings = secured(settings)
    factory = open_cases_db(settings)
    announce_first_admin(factory)
    app = create_app(
        AppConfig.of(settings),
        factory,
        open_store(settings.store, settings.telemetry_path),
        open_deadletters(settings.deadletter_path),
        profiles=load_profiles(),
    )
    uvicorn.run(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_level="warning",
        log_config=None,
        proxy_headers=False,  # api.trusted_proxies decides whom to believe (api.clients)
    )


def import_fleet_file(settings: Settings, path: Path) -> dict[str, int]:
    """Import a fleet manifest; how many customers, contacts, devices and agents."""
    from tickets.registry import RegistryError, import_manifest

    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StartupError(f"cannot read fleet manifest {path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise StartupError(f"fleet manifest {path}: expected a JSON object")
    try:
        result = import_manifest(open_cases_db(settings), manifest, policy=settings.notify.policy())
    except RegistryError as exc:
        raise StartupError(f"fleet manifest {path}: {exc}") from None
    return asdict(result)


def add_user(settings: Settings, username: str, password: str, role: str) -> None:
    from api.auth import create_user

    try:
        create_user(open_cases_db(settings), username, password, role)
    except ValueError as exc:
        raise StartupError(str(exc)) from None


def add_api_key(settings: Settings, name: str, role: str) -> str:
    from api.auth import create_api_key

    try:
        return str(create_api_key(open_cases_db(settings), name, role))
    except ValueError as exc:
        raise StartupError(str(exc)) from None
