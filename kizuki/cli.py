"""The ``kizuki`` command: one entry point for every part of the engine."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from kizuki import __version__

if TYPE_CHECKING:
    from kizuki.config import Settings

app = typer.Typer(
    name="kizuki",
    help="Kizuki (気づき): fix a connected product before its customer notices.\n\n"
    "Settings come from KIZUKI_* environment variables (nested with __, e.g. "
    "KIZUKI_MQTT__URL); every default is embedded.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class CliError(Exception):
    """A failure the user can fix: printed as one line, exit status 2."""


def _settings(**overrides: object) -> Settings:
    from kizuki.config import ConfigFileError, Settings, config_file

    try:
        settings = Settings()
    except ValidationError as exc:
        raise CliError(_describe_validation(exc)) from None
    except ConfigFileError as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise CliError(f"cannot read settings file {config_file()}: {exc}") from None
    return settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def _settings_mqtt_url() -> str | None:
    return _settings().mqtt.url


def _describe_validation(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = "__".join(str(p) for p in err["loc"]).upper()
        lines.append(f"KIZUKI_{where}: {err['msg']}" if where else err["msg"])
    return "invalid setting: " + "; ".join(lines)


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("amqtt", "transitions", "uvicorn.error", "httpx", "apprise", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def demo(
    devices: Annotated[int, typer.Option(help="Simulated devices in the fleet.")] = 50,
    days: Annotated[float, typer.Option(help="Days of history the fleet replays.")] = 10.0,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per wall-clock second (0 = flat out).")
    ] = 14400.0,
    seed: Annotated[int, typer.Option(help="Random seed of the fleet.")] = 7,
    port: Annotated[int | None, typer.Option(help="Web UI port (default 8000).")] = None,
    broker: Annotated[
        str,
        typer.Option(
            help="Broker to start: auto (mosquitto if installed, else amqtt), "
            "mosquitto or amqtt. Ignored when KIZUKI_MQTT__URL is set."
        ),
    ] = "auto",
    exit_when_done: Annotated[
        bool, typer.Option(help="Stop after the fleet has been replayed (for scripts).")
    ] = False,
    keep: Annotated[bool, typer.Option(help="Keep the previous demo's data.")] = False,
) -> None:
    """Run everything on embedded defaults: broker, simulator, ingest, detection, cases,
    notifications and the web UI. Ctrl-C stops it cleanly."""
    from kizuki.demo import DemoOptions, run_demo

    settings = _settings()
    _logging(settings.log_level)
    options = DemoOptions(devices, days, speed, seed, port, broker, exit_when_done, keep)
    run_demo(settings, options)


@app.command()
def run(
    port: Annotated[int | None, typer.Option(help="Web UI/API port (default 8000).")] = None,
    no_api: Annotated[bool, typer.Option("--no-api", help="Do not serve the web UI/API.")] = False,
    partitions: Annotated[
        str | None,
        typer.Option(help="Partitions this worker owns, e.g. 0-3,6 (with --of; NATS transport)."),
    ] = None,
    of: Annotated[
        int | None, typer.Option("--of", help="How many partitions there are in all.")
    ] = None,
    worker: Annotated[
        str | None,
        typer.Option(help="This worker's name ({worker} in the MQTT client id; default host)."),
    ] = None,
) -> None:
    """Run the engine for a real fleet: ingest, detection, cases, notifications and the API.
    The broker comes from KIZUKI_MQTT__URL (required), or with KIZUKI_INGEST__TRANSPORT=nats
    this worker pulls its --partitions of --of from NATS JetStream (docs/scale-out.md)."""
    from ingest.base import IngestError
    from kizuki.runner import run_engine
    from kizuki.worker import ownership

    settings = _with_worker(_settings(), partitions=partitions, of=of, name=worker)
    _logging(settings.log_level)
    if settings.mqtt.url is None and settings.ingest.transport == "mqtt":
        raise CliError("set KIZUKI_MQTT__URL=mqtt://host:port to the broker your devices use")
    try:
        ownership(settings)
    except IngestError as exc:
        raise CliError(str(exc)) from None
    run_engine(settings, port=port, with_api=not no_api)


def _with_worker(settings: Settings, **given: object) -> Settings:
    """``settings`` with the worker options given on the command line (checked)."""
    from kizuki.scale import WorkerSettings

    update = {k: v for k, v in given.items() if v is not None}
    if not update:
        return settings
    try:
        worker = WorkerSettings(**{**settings.worker.model_dump(), **update})
    except ValidationError as exc:
        raise CliError("bad worker options: " + "; ".join(e["msg"] for e in exc.errors())) from None
    return settings.model_copy(update={"worker": worker})


@app.command()
def api(
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Serve only the web UI and API over the configured stores."""
    from kizuki.runner import serve_api

    settings = _settings()
    _logging(settings.log_level)
    serve_api(settings, port=port)


@app.command()
def migrate() -> None:
    """Create or upgrade the case database schema (Alembic)."""
    from tickets.db import migrate as upgrade

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.cases_url)
    typer.echo(f"case database at head: {settings.cases_url}")


@app.command("import-fleet")
def import_fleet(
    manifest: Annotated[Path, typer.Argument(help="Fleet manifest JSON (customers, devices).")],
) -> None:
    """Register customers (with their contact channels) and devices from a manifest."""
    from kizuki.runner import import_fleet_file

    settings = _settings()
    counts = import_fleet_file(settings, manifest)
    typer.echo(f"imported {counts}")


@app.command("create-user")
def create_user(
    username: str,
    role: Annotated[str, typer.Option(help="viewer, agent or admin.")] = "agent",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)] = "",
) -> None:
    """Create a web login for a service-team member."""
    from kizuki.runner import add_user

    add_user(_settings(), username, password, role)
    typer.echo(f"user {username} ({role}) created")


@app.command("create-api-key")
def create_api_key(
    name: str,
    role: Annotated[str, typer.Option(help="viewer, agent or admin.")] = "viewer",
) -> None:
    """Create an API key; it is printed once and stored hashed."""
    from kizuki.runner import add_api_key

    typer.echo(add_api_key(_settings(), name, role))


@app.command()
def bench(
    name: Annotated[
        str,
        typer.Argument(help="Benchmark under bench/: ingest, detectors, simulator, sqlite_layout."),
    ],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments passed on.")] = None,
) -> None:
    """Run a benchmark from the source tree's bench/ folder (prints its figures beside a
    baseline measured in the same run). Pass its own options after --, e.g.
    kizuki bench ingest -- --readings 100000."""
    import runpy

    folder = Path(__file__).resolve().parent.parent / "bench"
    script = folder / f"{name}.py"
    if name.startswith("_") or not script.exists():
        available = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
        raise CliError(f"no benchmark {name!r}; available: {', '.join(available) or 'none'}")
    sys.argv = [str(script), *(args or [])]
    runpy.run_path(str(script), run_name="__main__")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _register_package_commands() -> None:
    from simulator.cli import simulate

    app.command()(simulate)
    from anomaly.cli import evaluate, score

    app.command()(score)
    app.command()(evaluate)


def main() -> None:
    from kizuki.broker import BrokerStartError
    from kizuki.runner import StartupError

    _register_package_commands()
    try:
        app(obj=_settings_mqtt_url)  # `kizuki simulate` publishes to the configured broker
    except CliError as exc:
        typer.echo(f"kizuki: {exc}", err=True)
        raise SystemExit(2) from None
    except (StartupError, BrokerStartError) as exc:
        typer.echo(f"kizuki: {exc}", err=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
