"""``kizuki score`` and ``kizuki evaluate`` (Typer-annotated; registered by kizuki.cli)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from anomaly.scorer import PROFILES, ScoreError, SeriesScorer, score_stream, write_scored
from anomaly.worst import figure

if TYPE_CHECKING:
    from anomaly.bank import BankConfig
    from anomaly.evaluate import EvalSpec, OnTick


def score(
    file: Annotated[Path, typer.Argument(help="CSV of timestamp,value (epoch s or ISO 8601).")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output CSV (default: stdout).")
    ] = None,
    warmup: Annotated[int, typer.Option(help="Points before scores leave neutral.")] = 30,
    profile: Annotated[
        str,
        typer.Option(
            help="Sensitivity: low (alarm at score >= 1-1e-5), default (1-1e-4) or high (1-1e-3)."
        ),
    ] = "default",
) -> None:
    """Score a CSV in one streaming pass; write timestamp,value,score,is_anomaly.

    score is a tail probability in [0, 1] (1 - the p-value of the point's forecast error,
    or of the drift sum); is_anomaly is 1 at the onset of each alarm episode only.
    """
    if profile not in PROFILES:
        raise typer.BadParameter(f"use one of {', '.join(PROFILES)}", param_hint="--profile")
    scorer = SeriesScorer(warmup=warmup, profile=profile)
    tmp = out.with_name(out.name + ".part") if out else None
    warned = _Warnings()
    try:
        with file.open(newline="", encoding="utf-8") as src:
            points = score_stream(src, scorer, str(file), warned)
            if tmp is None:
                n = write_scored(points, sys.stdout)
            else:
                with tmp.open("w", newline="", encoding="utf-8") as dst:
                    n = write_scored(points, dst)
                tmp.replace(out)  # type: ignore[arg-type]
    except (ScoreError, OSError, UnicodeDecodeError) as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        typer.echo(f"kizuki score: {exc}", err=True)
        raise typer.Exit(2) from None
    warned.summary()
    if out is not None:
        typer.echo(f"scored {n} points -> {out}", err=True)


class _Warnings:
    """The first few warnings on stderr, then a count."""

    SHOW = 5

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, message: str) -> None:
        self.count += 1
        if self.count <= self.SHOW:
            typer.echo(f"kizuki score: warning: {message}", err=True)

    def summary(self) -> None:
        if self.count > self.SHOW:
            typer.echo(
                f"kizuki score: warning: {self.count} timestamps out of order or repeated in all",
                err=True,
            )


def evaluate(
    devices: Annotated[int, typer.Option(help="Simulated devices.")] = 500,
    days: Annotated[float, typer.Option(help="Simulated days.")] = 30.0,
    seed: Annotated[int | None, typer.Option(help="One fleet seed (instead of --seeds).")] = None,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="Fleet seeds, e.g. 1,2,3 (wins over --seed): a scorecard per seed and the "
            "worst case over them. Default: 101-108, seeds never used to tune the detectors."
        ),
    ] = None,
    confounders: Annotated[
        str,
        typer.Option(
            help="Benign behaviour of real fleets in the simulated fleet: 'all' (default), "
            "'none', or a comma list of weekly,weather,seasonal,power_cuts,revisions,"
            "sampling,late,sensors,replacement,shapes."
        ),
    ] = "all",
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1, help="Processes for --seeds (default: one per seed, at most one per CPU)."
        ),
    ] = None,
    failure_rate: Annotated[float, typer.Option(help="Share of devices that fail.")] = 0.1,
    benign_rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of devices with one benign change (a relocation, a firmware "
            "update...). 1 with --benign gives every healthy device that change: a "
            "per-class false-case rate over hundreds of devices instead of a dozen.",
        ),
    ] = 0.1,
    benign: Annotated[
        str,
        typer.Option(
            help="The benign changes to draw from, a comma list of: relocation, firmware, "
            "seasonal, replacement, recalibration (default: all of them).",
        ),
    ] = "",
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Score a folder written by 'kizuki simulate --offline' "
            "instead of simulating (--devices, --days, --seed, --failure-rate "
            "then come from its manifest).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory for scorecard.json and the plot.")] = Path(
        "evaluation"
    ),
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
    readme: Annotated[
        Path | None,
        typer.Option(
            help="Also rewrite the scorecard section of this README (between its markers)."
        ),
    ] = None,
    stream: Annotated[
        list[str] | None,
        typer.Option(
            "--stream",
            metavar="KEY=VALUE",
            help="Score with one detector setting changed (a field of "
            "anomaly.stream.StreamConfig, e.g. trend_fit_fast=48; repeat for more): "
            "to measure a documented trade (docs/detection.md) side by side with the "
            "defaults. The scorecard records the settings it was made with.",
        ),
    ] = None,
) -> None:
    """Scorecard: Kizuki vs a static 80%-of-limit threshold on a simulated fleet."""
    from anomaly.evaluate import DEFAULT_SEEDS, EvalSpec, benign_kinds, write
    from simulator.confounders import Confounders
    from simulator.fleet import check_kinds

    if seeds is not None:
        seed_list = _parse_seeds(seeds)
    else:  # --from reads its seed from the folder
        seed_list = [seed] if seed is not None else [0] if source else list(DEFAULT_SEEDS)
    if source is not None and seeds is not None:
        raise typer.BadParameter("--from scores one folder; leave out --seeds", param_hint=HINT)
    try:
        on = Confounders.parse(confounders)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--confounders") from None
    if source is not None and (benign or benign_rate != 0.1):
        raise typer.BadParameter(
            "--from scores the folder's own fleet; leave out --benign and --benign-rate",
            param_hint="--benign",
        )
    try:
        check_kinds(benign_kinds(benign), on)  # the kinds exist, with what they need
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--benign") from None
    spec = EvalSpec(
        devices=devices,
        days=days,
        failure_rate=failure_rate,
        confounders=confounders,
        benign_rate=benign_rate,
        benign=benign,
    )
    config, changed = _stream_settings(stream or [])
    try:
        result = _run(source, spec, seed_list, jobs, progress, config)
    except ValueError as exc:
        typer.echo(f"kizuki evaluate: {exc}", err=True)
        raise typer.Exit(2) from None
    if changed:
        result["stream_settings"] = changed  # not the defaults: say so in scorecard.json
    json_path, png_path = write(result, out)
    if readme is not None:
        from anomaly.readme import update_readme

        given = {
            "--devices": (devices, 500),
            "--days": (days, 30.0),
            "--seed": (seed, None),
            "--seeds": (seeds, None),
            "--failure-rate": (failure_rate, 0.1),
            "--confounders": (confounders, "all"),
            "--benign-rate": (benign_rate, 0.1),
            "--benign": (benign, ""),
        }
        options = [f"{k} {v}" for k, (v, default) in given.items() if v != default]
        options += [f"--stream {k}={v}" for k, v in changed.items()]
        try:
            update_readme(readme, result, " ".join(["kizuki evaluate", *options]))
        except (ValueError, OSError) as exc:
            typer.echo(f"kizuki evaluate: {exc}", err=True)
            raise typer.Exit(2) from None
    if changed:
        settings = ", ".join(f"{k}={v}" for k, v in changed.items())
        typer.echo(f"detector settings changed from the defaults: {settings}\n")
    typer.echo(render_seeds(result) if "per_seed" in result else render(result))
    typer.echo(f"\nwrote {json_path} and {png_path}")


HINT = "--seeds"


def _stream_settings(pairs: list[str]) -> tuple[BankConfig | None, dict[str, int | float]]:
    """``--stream KEY=VALUE`` options as a bank configuration (None: the defaults) and
    the settings they change; a usage error names the option and what it takes."""
    from anomaly.bank import BankConfig
    from anomaly.stream import StreamConfig

    base = StreamConfig()
    names = [f.name for f in fields(StreamConfig)]
    changed: dict[str, int | float] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in names:
            raise typer.BadParameter(
                f"{pair!r}: use KEY=VALUE, KEY one of {', '.join(names)}", param_hint="--stream"
            )
        kind = type(getattr(base, key))
        try:
            value = kind(text.strip())
        except ValueError:
            raise typer.BadParameter(
                f"{key} takes {'an integer' if kind is int else 'a number'}, not {text!r}",
                param_hint="--stream",
            ) from None
        if not math.isfinite(value) or value < 0:
            raise typer.BadParameter(
                f"{key} takes a finite number >= 0, not {text!r}", param_hint="--stream"
            )
        changed[key] = value
    if not changed:
        return None, {}
    stream = replace(base, **changed)  # type: ignore[arg-type]  # each value has its field's type
    return BankConfig(stream=stream), changed


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(
            "use integers separated by commas, e.g. 1,2,3", param_hint=HINT
        ) from None
    if not seeds or min(seeds) < 0:
        raise typer.BadParameter("use one or more seeds >= 0, e.g. 1,2,3", param_hint=HINT)
    return list(dict.fromkeys(seeds))


def _run(
    source: Path | None,
    spec: EvalSpec,
    seeds: list[int],
    jobs: int | None,
    show: bool,
    config: BankConfig | None = None,
) -> dict[str, Any]:
    from anomaly.evaluate import load_offline, offline_source, run, run_seeds, score

    if source is not None:
        offline = load_offline(source)
        with _progress(show, offline.manifest["window"]["ticks"]) as tick:
            return score(offline_source(offline), config, tick)
    from simulator.confounders import Confounders

    fast = 2 if Confounders.parse(spec.confounders).sampling else 1
    ticks = max(1, round(spec.days * 86400.0 / spec.step_s)) * fast
    with _progress(show, ticks * len(seeds)) as tick:
        if len(seeds) == 1:
            return run(replace(spec, seed=seeds[0]), config, tick)
        return run_seeds(spec, seeds, jobs, config, tick)


@contextmanager
def _progress(show: bool, total: int) -> Iterator[OnTick | None]:
    """A bar on a terminal, else a plain line on stderr every ~5 s (``simulator.progress``)."""
    if not show:
        yield None
        return
    from simulator.progress import progress

    with progress("evaluating") as advance:
        yield _Ticks(total, advance)


class _Ticks:
    """Counts ticks (over every seed) and readings for a progress display."""

    def __init__(self, total: int, advance: Callable[[int, int, int], None]) -> None:
        self.total, self.advance = total, advance
        self.done = self.readings = 0

    def __call__(self, readings: int) -> None:
        self.done += 1
        self.readings += readings
        self.advance(self.done, self.total, self.readings)


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("recall (case before notice)", ("recall",)),
    ("false cases / 1000 device-days", ("false_cases_per_1000_device_days",)),
    ("false cases (healthy devices)", ("false_cases",)),
    ("median lead (h)", ("lead_hours", "median")),
    ("p10 lead (h)", ("lead_hours", "p10")),
    ("false cases before a failure's onset", ("false_cases_before_onset",)),
    ("median lead (share of window)", ("lead_fraction", "median")),
    ("p10 lead (share of window)", ("lead_fraction", "p10")),
    ("ETA ratio (predicted/actual), median", ("eta", "ratio", "median")),
    ("ETA given at first case (share)", ("eta", "with_eta_share")),
    ("ETA median abs error (h)", ("eta", "abs_error_h_median")),
)


def _table(k: dict[str, Any], b: dict[str, Any]) -> list[str]:
    lines = [f"{'':38}{'Kizuki':>10}{'80% threshold':>15}"]
    for name, path in ROWS:
        lines.append(f"{name:38}{_fmt(figure(k, path)):>10}{_fmt(figure(b, path)):>15}")
    return lines


def _fleet_line(run: dict[str, Any]) -> str:
    conf = ",".join(run.get("confounders") or []) or "none"
    kinds = f": {run['benign']}" if run.get("benign") else ""
    return (
        f"{run['devices']} devices x {run['days']} days, seed {run['seed']}: "
        f"{run['failures_noticed_in_run']} failures noticed, {run['healthy_devices']} healthy "
        f"({run['benign_change_devices']} with benign changes{kinds}); confounders: {conf}"
    )


def _targets_line(targets: dict[str, Any]) -> str:
    return "targets: " + ", ".join(f"{n}={v}" for n, v in targets.items())


def _breakdown(k: dict[str, Any], b: dict[str, Any]) -> list[str]:
    lines = []
    for key, title in (("by_failure_mode", "failure mode"), ("by_shape", "failure shape")):
        lines.append(f"\nper {title} (n, recall, median lead share, median ETA ratio):")
        for name, km in k.get(key, {}).items():
            bm = b.get(key, {}).get(name, {})
            lines.append(
                f"  {name:22} n={km['failures']:<4} Kizuki {_fmt(km['recall'])} / "
                f"{_fmt(figure(km, ('lead_fraction', 'median')))} / "
                f"{_fmt(figure(km, ('eta', 'ratio', 'median')))}   baseline "
                f"{_fmt(bm.get('recall'))} / "
                f"{_fmt(figure(bm, ('lead_fraction', 'median')))}"
            )
    lines.append("\nper benign condition (healthy devices, share with a false case):")
    for name, kc in k.get("by_benign_condition", {}).items():
        bc = b.get("by_benign_condition", {}).get(name, {})
        lines.append(
            f"  {name:22} n={kc['devices']:<5} Kizuki {_fmt(kc['share'])}   "
            f"baseline {_fmt(bc.get('share'))}"
        )
    return lines


def render(result: dict[str, Any]) -> str:
    """The side-by-side table printed by ``kizuki evaluate``."""
    k, b = result["kizuki"], result["baseline"]
    lines = [_fleet_line(result["run"]), *_table(k, b), *_breakdown(k, b)]
    lines.append("\n" + _targets_line(result["targets"]))
    return "\n".join(lines)


def render_seeds(result: dict[str, Any]) -> str:
    """Each seed's table, then the worst case over the seeds with the targets on it."""
    lines = []
    for r in result["per_seed"]:
        lines += [_fleet_line(r["run"]), *_table(r["kizuki"], r["baseline"]), ""]
    summary, seeds = result["summary"], ",".join(map(str, result["seeds"]))
    lines.append(
        f"worst case over seeds {seeds} (lowest recall and lead, most false cases, "
        "ETA ratio furthest from 1):"
    )
    lines += _table(summary["kizuki"], summary["baseline"])
    lines += _breakdown(summary["kizuki"], summary["baseline"])
    lines.append("\nspread over the seeds (min / median / max), Kizuki:")
    for name, three in summary["kizuki"]["spread"].items():
        if three is not None:
            lines.append(
                f"  {name:38} {three['min']:.3f} / {three['median']:.3f} / {three['max']:.3f}"
            )
    lines.append("\n" + _targets_line(summary["targets"]) + " (baseline comparison: in every seed)")
    return "\n".join(lines)
