"""The failures of the ``kizuki demo`` fleet: a few modes, timed to end near now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from core.profiles import DeviceProfile
from simulator.failures import DAY, FailurePlan, plan_failure


class _Device(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def benign(self) -> object: ...


class Fleet(Protocol):
    """What the demo's failure plan needs to know of a fleet."""

    @property
    def start_ts(self) -> float: ...
    @property
    def end_ts(self) -> float: ...
    @property
    def step_s(self) -> float: ...
    @property
    def devices(self) -> Sequence[_Device]: ...
    @property
    def profiles(self) -> Mapping[str, DeviceProfile]: ...


DEMO_MODES = (
    ("aircon-x1", "filter_clog"),
    ("pump-p3", "bearing_wear"),
    ("waterheater-w2", "thermostat_fault"),
    ("aircon-x1", "refrigerant_leak"),
    ("waterheater-w2", "element_degradation"),
    ("pump-p3", "impeller_clog"),
)


def demo_plans(fleet: Fleet, rng: np.random.Generator) -> dict[int, FailurePlan]:
    """One failure per demo mode, on the first free device of its model.

    Each starts 4.5-7 days before the fleet's end and reaches its limit 6-30 hours
    before the end, so detection has days of lead time to show.
    """
    plans: dict[int, FailurePlan] = {}
    window = (fleet.start_ts, fleet.end_ts)
    for model, mode in DEMO_MODES:
        row = _free_device(fleet, model, plans)
        if row is None or mode not in fleet.profiles[model].failure_modes:
            continue
        span = fleet.end_ts - fleet.start_ts
        onset = fleet.end_ts - min(float(rng.uniform(4.5, 7.0)) * DAY, 0.7 * span)
        notice = fleet.end_ts - min(float(rng.uniform(0.25, 1.25)) * DAY, 0.1 * span)
        kind = fleet.profiles[model].failure_modes[mode].kind
        plans[row] = plan_failure(
            rng, mode, kind, window, fleet.step_s, duration_s=notice - onset, onset_ts=onset
        )
    return plans


def _free_device(fleet: Fleet, model: str, taken: dict[int, FailurePlan]) -> int | None:
    for i, device in enumerate(fleet.devices):
        if device.model == model and i not in taken and not device.benign:
            return i
    return None
