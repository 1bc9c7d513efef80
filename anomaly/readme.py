"""The README's scorecard section, rendered from a ``kizuki evaluate`` result.

``kizuki evaluate --readme README.md`` replaces the text between ``BEGIN`` and ``END``
markers with this rendering, so the README's figures are regenerated, never typed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anomaly.worst import figure

BEGIN = "<!-- scorecard:begin (kizuki evaluate --readme README.md) -->"
END = "<!-- scorecard:end -->"

ROWS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("recall (case before the customer would notice)", ("recall",), "{:.3f}"),
    ("false cases per 1,000 healthy device-days", ("false_cases_per_1000_device_days",), "{:.2f}"),
    ("false cases before a failure's onset", ("false_cases_before_onset",), "{}"),
    ("median lead, hours", ("lead_hours", "median"), "{:.1f}"),
    ("median lead, share of the onset-to-notice window", ("lead_fraction", "median"), "{:.3f}"),
    ("ETA ratio predicted/actual, median", ("eta", "ratio", "median"), "{:.2f}"),
    ("first cases with an ETA (share)", ("eta", "with_eta_share"), "{:.2f}"),
)


def _fmt(value: Any, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def render(result: dict[str, Any], command: str) -> str:
    """Markdown: the worst-case table, the spread, per shape and per benign condition."""
    summary = result.get("summary", result)
    k, b = summary["kizuki"], summary["baseline"]
    runs = result.get("per_seed", [result])
    first = runs[0]["run"]
    seeds = ",".join(str(r["run"]["seed"]) for r in runs)
    lines = [
        f"`{command}`: {first['devices']} devices x {first['days']} simulated days per "
        f"seed, seeds {seeds}, confounders: {', '.join(first.get('confounders') or ['none'])}."
        " Worst case over the seeds (each figure's worst):",
        "",
        "| | Kizuki | static 80% threshold |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {_fmt(figure(k, p), f)} | {_fmt(figure(b, p), f)} |" for name, p, f in ROWS
    ]
    lines += ["", "Spread over the seeds, Kizuki (min / median / max):", ""]
    for name, three in k.get("spread", {}).items():
        if three is not None:
            lines.append(
                f"- {name}: {three['min']:.3f} / {three['median']:.3f} / {three['max']:.3f}"
            )
    lines += [
        "",
        "Per failure shape (worst over seeds: recall, median lead share, median ETA "
        "ratio; baseline recall):",
        "",
        "| shape | n | recall | lead | ETA | baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in k.get("by_shape", {}).items():
        base = b.get("by_shape", {}).get(name, {})
        lines.append(
            f"| {name} | {row['failures']} | {_fmt(row.get('recall'), '{:.2f}')} | "
            f"{_fmt(figure(row, ('lead_fraction', 'median')), '{:.2f}')} | "
            f"{_fmt(figure(row, ('eta', 'ratio', 'median')), '{:.2f}')} | "
            f"{_fmt(base.get('recall'), '{:.2f}')} |"
        )
    lines += [
        "",
        "Per benign condition (healthy devices with it over all seeds; the highest "
        "share of them with a false case in any seed):",
        "",
        "| condition | devices | Kizuki | baseline |",
        "|---|---|---|---|",
    ]
    for name, row in k.get("by_benign_condition", {}).items():
        base = b.get("by_benign_condition", {}).get(name, {})
        lines.append(
            f"| {name} | {row['devices']} | {_fmt(row['share'], '{:.3f}')} | "
            f"{_fmt(base.get('share'), '{:.3f}')} |"
        )
    targets = summary.get("targets", result.get("targets", {}))
    lines += [
        "",
        "Targets on the worst case: " + ", ".join(f"`{n}` {v}" for n, v in targets.items()),
    ]
    return "\n".join(lines)


def update_readme(path: Path, result: dict[str, Any], command: str) -> None:
    """Replace the scorecard section of ``path`` (between the markers) with ``render``."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path} has no scorecard markers ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{render(result, command)}\n{END}{tail}", encoding="utf-8")
