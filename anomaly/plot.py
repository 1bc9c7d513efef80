"""Lead-time plot of a scorecard (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from anomaly.scorecard import NAMES  # noqa: E402

COLORS = {"kizuki": "#1f77b4", "baseline": "#d62728"}
Leads = Mapping[str, Sequence[dict[str, Any]]]  # detector -> lead rows of the scorecard


def plot_leads(leads: Leads, title: str, path: Path) -> None:
    """Left: lead fraction per detector; right: lead hours per failure mode.

    ``leads`` holds each detector's ``leads`` rows, of one seed or pooled over seeds.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    _fractions(ax1, leads)
    _per_mode(ax2, leads)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fractions(ax: Any, leads: Leads) -> None:
    bins = [i / 20 for i in range(21)]
    for name in NAMES:
        fracs = [row["lead_frac"] for row in leads[name]]
        median = f"{np.median(fracs):.3f}" if fracs else "-"
        ax.hist(
            fracs,
            bins=bins,
            alpha=0.55,
            color=COLORS[name],
            label=f"{name} (median {median}, n={len(fracs)})",
        )
    ax.set_xlabel("lead before notice / onset-to-notice window (missed = 0)")
    ax.set_ylabel("failing devices")
    ax.legend()


def _per_mode(ax: Any, leads: Leads) -> None:
    modes = sorted({row["mode"] for name in NAMES for row in leads[name]})
    for i, name in enumerate(NAMES):
        data = [[r["lead_h"] for r in leads[name] if r["mode"] == m] or [0.0] for m in modes]
        pos = [j * 3 + i for j in range(len(modes))]
        box = ax.boxplot(data, positions=pos, widths=0.8, patch_artist=True)
        for patch in box["boxes"]:
            patch.set_facecolor(COLORS[name])
    ax.set_xticks([j * 3 + 0.5 for j in range(len(modes))], modes, rotation=45, ha="right")
    ax.set_ylabel("lead before notice (hours)")
    ax.set_title("blue = Kizuki, red = static 80% threshold")


def plot_runs(runs: Sequence[dict[str, Any]], path: Path) -> None:
    """The lead-time plot of one run, or of several seeds' runs pooled."""
    leads = {name: [row for r in runs for row in r[name]["leads"]] for name in NAMES}
    first = runs[0]["run"]
    seeds = ",".join(str(r["run"]["seed"]) for r in runs)
    title = f"{first['devices']} devices, {first['days']} days, seed {seeds}"
    if len(runs) > 1:
        title = title.replace("seed ", "seeds ") + " (pooled)"
    plot_leads(leads, title, path)
