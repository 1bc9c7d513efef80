"""The ``kizuki`` command: one entry point for every part of the engine."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from kizuki import __version__
from kizuki.cli_settings import OVERRIDES, CliError, settings_or_exit

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


_REGISTERED: list[bool] = []


@app.callback()
def _options(
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            help="text (default) or json: one JSON object per log line (KIZUKI_LOG_FORMAT).",
        ),
    ] = None,
) -> None:
    if log_format is not None:
        OVERRIDES["log_format"] = log_format


_settings = settings_or_exit


def _settings_mqtt_url() -> str | None:
    return _settings().mqtt.url


def _logging(settings: Settings) -> None:
    from core.logs import configure

    configure(settings.log_level, settings.log_format)
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
    notifications and the web UI. Cases escalate as their devices degrade; once the fleet
    is replayed, the demo's agent resolves one case still out of range as repaired on
    site, so its customer is told "we have fixed it and are watching". Ctrl-C stops it
    cleanly."""
    from kizuki.demo import DemoOptions, run_demo

    settings = _settings()
    _logging(settings)
    options = DemoOptions(devices, days, speed, seed, port, broker, exit_when_done, keep)
    run_demo(settings, options)


@app.command()
def run(
    port: Annotated[int | None, typer.Option(help="Web UI/API port (default 8000).")] = None,
    no_api: Annotated[bool, typer.Option("--no-api", help="Do not serve the web UI/API.")] = False,
    no_dispatcher: Annotated[
        bool,
        typer.Option("--no-dispatcher", help="Do not send notifications (`kizuki dispatch` does)."),
    ] = False,
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
    _logging(settings)
    if settings.mqtt.url is None and settings.ingest.transport == "mqtt":
        raise CliError("set KIZUKI_MQTT__URL=mqtt://host:port to the broker your devices use")
    try:
        ownership(settings)
    except IngestError as exc:
        raise CliError(str(exc)) from None
    run_engine(settings, port=port, with_api=not no_api, with_dispatcher=not no_dispatcher)


@app.command()
def dispatch() -> None:
    """Send notifications from the outbox only (run beside `kizuki run --no-dispatcher`);
    several may run against one PostgreSQL case database."""
    from kizuki.runner import run_dispatcher

    settings = _settings()
    _logging(settings)
    run_dispatcher(settings)


@app.command()
def bridge(
    of: Annotated[
        int,
        typer.Option(
            "--of", min=1, help="How many partitions there are in all (the workers' --of)."
        ),
    ],
    worker: Annotated[
        str | None,
        typer.Option(help="This bridge's name ({worker} in its MQTT client id; default host)."),
    ] = None,
) -> None:
    """Carry devices' MQTT publishes into NATS JetStream, acking each device only once the
    stream has stored its message. Subscribes on KIZUKI_MQTT__URL (QoS 1), publishes to
    the partition subjects of KIZUKI_NATS__URLS (docs/scale-out.md)."""
    from ingest.base import IngestError
    from kizuki.bridge_run import serve_bridge
    from kizuki.runner import stop_on_signals

    settings = _with_worker(_settings(), name=worker)
    _logging(settings)
    if settings.mqtt.url is None:
        raise CliError("set KIZUKI_MQTT__URL=mqtt://host:port to the broker your devices use")
    with stop_on_signals() as stop:
        try:
            counts = serve_bridge(settings, of, stop)
        except IngestError as exc:
            raise CliError(str(exc)) from None
    logging.getLogger("kizuki.bridge").info("bridge stopped: %s", counts)


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
    _logging(settings)
    serve_api(settings, port=port)


@app.command()
def migrate() -> None:
    """Create or upgrade the case database schema (Alembic). On a database without any
    login it creates 'admin' with a random password, printed once."""
    from kizuki.runner import announce_first_admin, open_cases_db

    settings = _settings()
    announce_first_admin(open_cases_db(settings))
    typer.echo(f"case database at head: {settings.cases_url}")


@app.command("import-fleet")
def import_fleet(
    manifest: Annotated[Path, typer.Argument(help="Fleet manifest JSON (customers, devices).")],
) -> None:
    """Register customers (with their contact channels) and devices from a manifest."""
    from kizuki.runner import import_fleet_file

    counts = import_fleet_file(_settings(), manifest)
    typer.echo("imported " + ", ".join(f"{n} {what}" for what, n in counts.items()))


@app.command("create-user", hidden=True)
def create_user(
    username: str,
    role: Annotated[str, typer.Option(help="viewer, agent or admin.")] = "agent",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)] = "",
) -> None:
    """Create a web login (kept for scripts; see `kizuki user add`)."""
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
        typer.Argument(
            help="Benchmark under bench/: ingest, detectors, simulator, sqlite_layout, stall."
        ),
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


@app.command("import-csv")
def import_csv(
    customers: Annotated[
        Path | None,
        typer.Option(
            help="customers.csv: id, name, locale, timezone, tier, "
            "quiet_hours, contacts (URLs separated by ;)"
        ),
    ] = None,
    devices: Annotated[
        Path | None, typer.Option(help="devices.csv: id, model, customer_id")
    ] = None,
) -> None:
    """Import customers, their contact points and devices from CSV (idempotent)."""
    from tickets.db import make_session_factory, migrate
    from tickets.registry import ManifestError, import_manifest
    from tickets.registry_csv import manifest_from_csv

    if customers is None and devices is None:
        raise CliError("give --customers and/or --devices")
    try:
        texts = [p.read_text(encoding="utf-8") if p else "" for p in (customers, devices)]
        manifest = manifest_from_csv(*texts)
        settings = _settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrate(settings.cases_url)
        factory = make_session_factory(settings.cases_url)
        result = import_manifest(factory, manifest, policy=settings.notify.policy())
    except (OSError, UnicodeDecodeError, ManifestError) as exc:
        raise CliError(str(exc)) from None
    typer.echo(
        f"imported {result.customers} customers ({result.contacts} contact points) "
        f"and {result.devices} devices"
    )


@app.command("evaluate-answers")
def evaluate_answers(
    questions: Annotated[
        Path | None,
        typer.Option(help="Labelled questions (YAML); default: the set shipped with Kizuki."),
    ] = None,
    show_misses: Annotated[bool, typer.Option(help="List the questions it got wrong.")] = True,
) -> None:
    """Measure self-service: answer accuracy on labelled customer questions (English and
    Japanese) and how often it hands the customer to a person."""
    from core.profiles import load_profiles
    from tickets.selfservice import EVAL_SET, evaluate

    try:
        result = evaluate(load_profiles(), questions or EVAL_SET)
    except (OSError, KeyError, TypeError) as exc:
        raise CliError(f"cannot read labelled questions: {exc}") from None
    typer.echo(f"self-service answers on {result.total} labelled questions")
    for locale, (correct, total) in sorted(result.by_locale.items()):
        typer.echo(f"  {locale}: {correct}/{total} right ({correct / total:.1%})")
    typer.echo(f"  accuracy:     {result.accuracy:.1%}")
    typer.echo(f"  hand-off rate: {result.handoff_rate:.1%} ({result.handed_off} to a person)")
    if show_misses and result.misses:
        typer.echo("missed:")
        for line in result.misses:
            typer.echo(f"  {line}")


@app.command()
def ready(
    url: Annotated[
        str | None, typer.Option(help="Base URL of the API (default: from the settings).")
    ] = None,
) -> None:
    """Exit 0 if the running API's /readyz says ready, else 1 naming the failed checks
    (for container healthchecks and monitoring scripts)."""
    import httpx

    settings = _settings()
    host = "127.0.0.1" if settings.api.host in ("0.0.0.0", "::") else settings.api.host
    base = url or f"http://{host}:{settings.api.port}"
    try:
        response = httpx.get(f"{base.rstrip('/')}/readyz", timeout=5)
        checks = response.json().get("checks", {})
    except (httpx.HTTPError, ValueError) as exc:
        typer.echo(f"kizuki: no answer from {base}/readyz: {exc}", err=True)
        raise typer.Exit(1) from None
    failed = sorted(name for name, ok in checks.items() if not ok)
    if response.status_code != 200:
        typer.echo(f"kizuki: not ready: {', '.join(failed) or response.status_code}", err=True)
        raise typer.Exit(1)
    typer.echo("ready")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _register_package_commands() -> None:
    if _REGISTERED:
        return
    _REGISTERED.append(True)
    from kizuki.admin_cli import register
    from simulator.cli import simulate

    register(app)
    app.command()(simulate)
    from anomaly.cli import evaluate, score

    app.command()(score)
    app.command()(evaluate)


def main() -> None:
    from kizuki.admin_cli import AdminError
    from kizuki.broker import BrokerStartError
    from kizuki.runner import StartupError

    _register_package_commands()
    OVERRIDES.clear()
    try:
        app(obj=_settings_mqtt_url)  # `kizuki simulate` publishes to the configured broker
    except CliError as exc:
        typer.echo(f"kizuki: {exc}", err=True)
        raise SystemExit(2) from None
    except (StartupError, BrokerStartError, AdminError) as exc:
        typer.echo(f"kizuki: {exc}", err=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
