"""Lead-time plot of a scorecard (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = ("kizuki", "baseline")
COLORS = {"kizuki": "#1f77b4", "baseline": "#d62728"}


def plot_leads(result: dict[str, Any], path: Path) -> None:
    """Left: lead fraction per detector; right: lead hours per failure mode."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    bins = [i / 20 for i in range(21)]
    for name in NAMES:
        fracs = [row["lead_frac"] for row in result[name]["leads"]]
        ax1.hist(fracs, bins=bins, alpha=0.55, color=COLORS[name],
                 label=f"{name} (median {result[name]['lead_fraction']['median']})")  # fmt: skip
    ax1.set_xlabel("lead before notice / onset-to-notice window (missed = 0)")
    ax1.set_ylabel("failing devices")
    ax1.legend()
    modes = sorted({row["mode"] for name in NAMES for row in result[name]["leads"]})
    for i, name in enumerate(NAMES):
        data = [[r["lead_h"] for r in result[name]["leads"] if r["mode"] == m] or [0.0]
                for m in modes]  # fmt: skip
        pos = [j * 3 + i for j in range(len(modes))]
        box = ax2.boxplot(data, positions=pos, widths=0.8, patch_artist=True)
        for patch in box["boxes"]:
            patch.set_facecolor(COLORS[name])
    ax2.set_xticks([j * 3 + 0.5 for j in range(len(modes))], modes, rotation=45, ha="right")
    ax2.set_ylabel("lead before notice (hours)")
    ax2.set_title("blue = Kizuki, red = static 80% threshold")
    run = result["run"]
    fig.suptitle(f"{run['devices']} devices, {run['days']} days, seed {run['seed']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
