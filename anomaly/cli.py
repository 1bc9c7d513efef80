"""``kizuki score`` and ``kizuki evaluate`` (Typer-annotated; registered by kizuki.cli)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from anomaly.scorer import ScoreError, SeriesScorer, score_stream, write_scored


def score(
    file: Annotated[Path, typer.Argument(help="CSV of timestamp,value (epoch s or ISO 8601).")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output CSV (default: stdout).")
    ] = None,
    warmup: Annotated[int, typer.Option(help="Points before scores leave neutral.")] = 50,
    z_threshold: Annotated[float, typer.Option(help="Robust z that scores 1.")] = 5.0,
) -> None:
    """Score a CSV in one streaming pass; write timestamp,value,score,is_anomaly."""
    scorer = SeriesScorer(warmup=warmup, z_threshold=z_threshold)
    tmp = out.with_name(out.name + ".part") if out else None
    try:
        with file.open(newline="", encoding="utf-8") as src:
            points = score_stream(src, scorer, str(file))
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
    if out is not None:
        typer.echo(f"scored {n} points -> {out}", err=True)


def evaluate(
    devices: Annotated[int, typer.Option(help="Simulated devices.")] = 500,
    days: Annotated[float, typer.Option(help="Simulated days.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Fleet seed.")] = 7,
    failure_rate: Annotated[float, typer.Option(help="Share of devices that fail.")] = 0.1,
    out: Annotated[Path, typer.Option(help="Directory for scorecard.json and the plot.")] = Path(
        "evaluation"
    ),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Scorecard: Kizuki vs a static 80%-of-limit threshold on a simulated fleet."""
    from anomaly.evaluate import EvalSpec, run, write

    spec = EvalSpec(devices=devices, days=days, seed=seed, failure_rate=failure_rate)
    ticks = max(1, round(days * 86400.0 / spec.step_s))
    try:
        if progress:
            with typer.progressbar(length=ticks, label="simulating", file=sys.stderr) as bar:
                result = run(spec, progress=bar.update)
        else:
            result = run(spec)
    except ValueError as exc:
        typer.echo(f"kizuki evaluate: {exc}", err=True)
        raise typer.Exit(2) from None
    json_path, png_path = write(result, out)
    typer.echo(render(result))
    typer.echo(f"\nwrote {json_path} and {png_path}")


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def render(result: dict[str, Any]) -> str:
    """The side-by-side table printed by ``kizuki evaluate``."""
    k, b, run = result["kizuki"], result["baseline"], result["run"]
    rows = [
        ("recall (case before notice)", k["recall"], b["recall"]),
        ("false cases / 1000 device-days", k["false_cases_per_1000_device_days"],
         b["false_cases_per_1000_device_days"]),
        ("false cases (healthy devices)", k["false_cases"], b["false_cases"]),
        ("median lead (h)", k["lead_hours"]["median"], b["lead_hours"]["median"]),
        ("p10 lead (h)", k["lead_hours"]["p10"], b["lead_hours"]["p10"]),
        ("median lead (share of window)", k["lead_fraction"]["median"],
         b["lead_fraction"]["median"]),
        ("p10 lead (share of window)", k["lead_fraction"]["p10"], b["lead_fraction"]["p10"]),
    ]  # fmt: skip
    lines = [
        f"{run['devices']} devices x {run['days']} days, seed {run['seed']}: "
        f"{run['failures_noticed_in_run']} failures noticed, {run['healthy_devices']} healthy "
        f"({run['benign_change_devices']} with benign changes)",
        f"{'':34}{'Kizuki':>10}{'80% threshold':>15}",
    ]
    lines += [f"{name:34}{_fmt(kv):>10}{_fmt(bv):>15}" for name, kv, bv in rows]
    lines.append("\nper failure mode (n, recall, median lead share):")
    for mode, km in k["by_failure_mode"].items():
        bm = b["by_failure_mode"].get(mode, {})
        lines.append(f"  {mode:22} n={km['failures']:<3} Kizuki {_fmt(km['recall'])} / "
                     f"{_fmt(km['lead_fraction']['median'])}   baseline {_fmt(bm.get('recall'))}"
                     f" / {_fmt(bm.get('lead_fraction', {}).get('median'))}")  # fmt: skip
    lines.append("\ntargets: " + ", ".join(f"{n}={v}" for n, v in result["targets"].items()))
    return "\n".join(lines)
