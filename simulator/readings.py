"""Turn array frames into ``Reading`` objects (dropped metrics left out)."""

from __future__ import annotations

import numpy as np

from core.readings import Reading
from simulator.signals import Frame


def frame_readings(frame: Frame) -> list[Reading]:
    """The readings of the devices present in ``frame``; NaN metrics are omitted."""
    rows = np.flatnonzero(frame.present)
    values = frame.values[rows]
    gaps = np.isnan(values).any(axis=1)
    names, ts, ids = frame.metrics, frame.ts, frame.device_ids
    shift = frame.offsets
    out = []
    for row, vals, gap in zip(rows.tolist(), values.tolist(), gaps.tolist(), strict=True):
        if gap:
            metrics = {k: v for k, v in zip(names, vals, strict=True) if v == v}
        else:
            metrics = dict(zip(names, vals, strict=True))
        if metrics:
            at = ts if shift is None else ts + float(shift[row])
            out.append(Reading(ids[row], at, metrics))
    return out
