"""``kizuki simulate``: run a seeded fleet to an MQTT broker or to files."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, cast

import orjson
import typer

from simulator.confounders import Confounders
from simulator.failures import DAY
from simulator.fleet import Fleet
from simulator.progress import progress

DEFAULT_URL = "mqtt://127.0.0.1:1883"
Protocol = Literal["3.1.1", "5"]


def simulate(
    ctx: typer.Context,
    devices: Annotated[int, typer.Option(min=1, help="Number of simulated devices.")] = 100,
    speed: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Simulated seconds per wall-clock second: 1 = real time, 3600 = one hour "
            "per second, 0 = as fast as the broker acknowledges (MQTT only).",
        ),
    ] = 0.0,
    failure_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of devices given a failure (not with --demo)."),
    ] = 0.05,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same data.")] = 42,
    days: Annotated[float, typer.Option(min=0.01, help="Simulated days.")] = 30.0,
    step: Annotated[float, typer.Option(min=1.0, help="Seconds between readings.")] = 600.0,
    qos: Annotated[
        int, typer.Option(min=0, max=2, help="MQTT QoS of telemetry and status messages.")
    ] = 1,
    protocol: Annotated[
        str,
        typer.Option(
            help="MQTT version, 3.1.1 or 5. With 5 the broker's Receive Maximum caps the "
            "messages in flight and refusals are reported; 3.1.1 assumes Mosquitto's 20 "
            "for QoS 2.",
        ),
    ] = "3.1.1",
    url: Annotated[
        str | None,
        typer.Option(
            help="Broker, mqtt://[user:pass@]host:port. Default: the configured mqtt.url "
            "(KIZUKI_MQTT__URL or kizuki.toml), else mqtt://127.0.0.1:1883."
        ),
    ] = None,
    offline: Annotated[
        Path | None,
        typer.Option(
            help="Write readings, truth.json, benign.json and manifest.json into this "
            "folder instead of publishing."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="Offline readings: jsonl or csv.")] = "jsonl",
    benign_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of devices with a benign change.")
    ] = 0.1,
    start: Annotated[
        str | None,
        typer.Option(
            help="First timestamp (ISO 8601, UTC unless an offset is given, or epoch s). "
            "Default: the last reading is stamped with the time the run ends."
        ),
    ] = None,
    topic_prefix: Annotated[str, typer.Option(help="Prefix for every MQTT topic.")] = "",
    manifest: Annotated[
        Path | None, typer.Option(help="Also write the fleet manifest (JSON) here.")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Also write the failures' ground truth (JSON) here.")
    ] = None,
    benign: Annotated[
        Path | None, typer.Option(help="Also write the benign changes (JSON) here.")
    ] = None,
    per_message: Annotated[
        int,
        typer.Option(min=1, help="Readings per device per MQTT message (>1: a JSON list; faster)."),
    ] = 1,
    demo: Annotated[
        bool,
        typer.Option(
            help="Demo preset: up to six failures of different modes that reach their "
            "limit 6-30 h before the end; --failure-rate and --benign-rate are ignored."
        ),
    ] = False,
    confounders: Annotated[
        str,
        typer.Option(
            help="Benign behaviour of real fleets: 'all', 'none', or a comma list of "
            "weekly,weather,seasonal,power_cuts,revisions,sampling,late,sensors,"
            "replacement,shapes (see simulator/confounders.py)."
        ),
    ] = "none",
) -> None:
    """Simulate a fleet of products with failures, benign changes and ground truth.

    Publishes over MQTT (one client for the whole fleet), or with --offline writes
    readings and the ground truth into a folder for scoring.
    """
    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter("use jsonl or csv", param_hint="--format")
    if protocol not in ("3.1.1", "5"):
        raise typer.BadParameter("use 3.1.1 or 5", param_hint="--protocol")
    try:
        on = Confounders.parse(confounders)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--confounders") from None
    first = _start_ts(start, days, speed)
    if start is None:
        first = first // step * step  # round timestamps are easier to read
    if demo:
        fleet = Fleet.demo(devices, seed, end_ts=first + days * DAY, days=days, step_s=step)
    else:
        fleet = Fleet(
            devices, seed, failure_rate, first, days, step, benign_rate=benign_rate, confounders=on
        )
    _write_side_files(fleet, manifest, truth, benign)
    if offline is not None:
        _run_offline(fleet, offline, fmt)
    else:
        mqtt = _Mqtt(url or _settings_url(ctx), qos, cast(Protocol, protocol), topic_prefix)
        _run_publish(fleet, mqtt, speed, per_message)


def _start_ts(start: str | None, days: float, speed: float) -> float:
    """Parse ``--start``; by default the run's last reading is stamped about 'now'."""
    if start is not None:
        return _parse_start(start)
    now, span = time.time(), days * DAY
    if speed <= 0:
        return now - span
    # Paced: finish at wall-clock 'now + span/speed' with the last reading stamped then,
    # so no reading ever carries a future timestamp.
    return min(now, now - span + span / speed)


def _parse_start(start: str) -> float:
    """Epoch seconds, or ISO 8601 (UTC unless it names an offset)."""
    try:
        return float(start)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter("use ISO 8601 or epoch seconds", param_hint="--start") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _settings_url(ctx: typer.Context) -> str:
    """The broker of the settings: the application hands in a callable as ``ctx.obj``."""
    source: Callable[[], str | None] | None = ctx.obj if callable(ctx.obj) else None
    return (source() if source is not None else None) or DEFAULT_URL


def _write_side_files(
    fleet: Fleet, manifest: Path | None, truth: Path | None, benign: Path | None
) -> None:
    files: list[tuple[Path | None, object]] = [
        (manifest, fleet.manifest()),
        (truth, [dataclasses.asdict(t) for t in fleet.truth()]),
        (benign, [dataclasses.asdict(b) for b in fleet.benign()]),
    ]
    for path, data in files:
        if path is not None:
            path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


def _run_offline(fleet: Fleet, directory: Path, fmt: str) -> None:
    from simulator.offline import Format, write_offline

    started = time.monotonic()
    with progress("generating") as advance:
        count = write_offline(fleet, directory, cast(Format, fmt), advance)
    took = time.monotonic() - started
    typer.echo(
        f"wrote {count:,} readings of {len(fleet.devices):,} devices to {directory} "
        f"in {took:.1f} s; {failure_summary(fleet, fleet.n_ticks)} (truth.json); "
        f"{len(fleet.benign())} benign changes (benign.json)"
    )


@dataclasses.dataclass(frozen=True)
class _Mqtt:
    url: str
    qos: int
    protocol: Protocol
    prefix: str


def _run_publish(fleet: Fleet, mqtt: _Mqtt, speed: float, per_message: int) -> None:
    from simulator.publisher import PublishError, publish

    try:
        with progress("publishing") as advance:
            stats = publish(
                fleet,
                mqtt.url,
                mqtt.qos,
                speed,
                advance,
                topic_prefix=mqtt.prefix,
                protocol=mqtt.protocol,
                per_message=per_message,
            )
    except (PublishError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    typer.echo(
        f"published {stats.messages:,} messages ({stats.readings:,} readings, "
        f"{stats.ticks} ticks) to {mqtt.url} in {stats.seconds:.1f} s "
        f"({stats.per_second:,.0f} msg/s, {stats.readings_per_second:,.0f} readings/s); "
        f"{failure_summary(fleet, stats.ticks)}"
    )
    if stats.rejected:
        why = ", ".join(f"{reason}: {n:,}" for reason, n in stats.reasons.items())
        typer.echo(f"error: the broker refused {stats.rejected:,} messages ({why})", err=True)
        raise typer.Exit(1)


def failure_summary(fleet: Fleet, ticks: int) -> str:
    """How many failures begin within the first ``ticks`` ticks, and how many of those
    the customer notices in them; failures planned after that are counted apart."""
    last = fleet.start_ts + (ticks - 1) * fleet.step_s
    begun = [t for t in fleet.truth() if t.onset_ts <= last]
    noticed = sum(t.notice_ts is not None and t.notice_ts <= last for t in begun)
    text = f"{len(begun)} failures begin in the window, {noticed} reach the notice limit"
    later = len(fleet.truth()) - len(begun)
    return text + (f" ({later} more begin later)" if later else "")
