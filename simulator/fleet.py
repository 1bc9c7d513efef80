"""A seeded fleet of simulated products, with the ground truth of every injected failure.

Example::

    fleet = Fleet(n_devices=500, seed=42, failure_rate=0.05, start_ts=t0, days=30)
    for ts, readings in fleet.ticks():
        ...
    fleet.truth()      # failures: onset and the time the customer notices
    fleet.benign()     # benign changes: real shifts that must not open a case
    fleet.manifest()   # customers and devices, for tickets.registry.import_manifest

``notice_ts`` is the first tick at which the primary metric's *underlying* value (noise
free: level + daily cycle + benign shifts + failure effect, see ``Fleet.underlying``)
reaches the profile's user-visible limit. Same seed, same arguments: identical output.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from core.profiles import DeviceProfile, load_profiles
from core.readings import Reading
from simulator.benign import KINDS, LIFE_KINDS, BenignChange, BenignTruth
from simulator.blocks import LifeDraw, build_block, first_breach
from simulator.confounders import REGIONS_PER_ZONE, Confounders, regional_weather
from simulator.customers import (
    ContactFactory,
    Customer,
    CustomerEntry,
    draw_customers,
    with_contacts,
)
from simulator.demo import demo_plans
from simulator.failures import DAY, FailurePlan, plan_failure, plan_power_step, plan_second
from simulator.readings import frame_readings
from simulator.signals import Frame, ModelBlock, Realism

PREFIXES = {"aircon-x1": "ac", "waterheater-w2": "wh", "pump-p3": "pump"}


class DeviceEntry(TypedDict):
    id: str
    model: str
    customer_id: str


class Manifest(TypedDict):
    """The fleet manifest (docs/architecture.md) that tickets imports."""

    customers: list[CustomerEntry]
    devices: list[DeviceEntry]


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """An injected failure: when it began and when the customer would notice it."""

    device_id: str
    model: str
    failure_mode: str
    kind: str
    onset_ts: float
    notice_ts: float | None
    metric: str = ""
    variant: str = ""


@dataclass(frozen=True, slots=True)
class SimDevice:
    """One simulated product; ``failure`` is None for a healthy device."""

    device_id: str
    model: str
    customer_id: str
    failure: GroundTruth | None
    benign: tuple[BenignChange, ...]
    second: GroundTruth | None = None  # a second fault of the same device


class Fleet:
    """Simulated devices of several product models, readable tick by tick."""

    def __init__(
        self,
        n_devices: int,
        seed: int,
        failure_rate: float,
        start_ts: float,
        days: float,
        step_s: float = 600.0,
        profiles: Mapping[str, DeviceProfile] | None = None,
        benign_rate: float = 0.1,
        *,
        realism: Realism | None = None,
        contact_factory: ContactFactory | None = None,
        plans: Mapping[int, FailurePlan] | None = None,
        confounders: Confounders | None = None,
        benign_kinds: Sequence[str] = (),
    ) -> None:
        _check(n_devices, seed, failure_rate, benign_rate, days, step_s)
        self.seed = seed
        self.confounders = confounders or Confounders()
        self._benign_kinds = check_kinds(benign_kinds, self.confounders)
        self._parameters: dict[str, object] = {
            "n_devices": n_devices,
            "seed": seed,
            "failure_rate": failure_rate,
            "start_ts": float(start_ts),
            "days": days,
            "step_s": step_s,
            "benign_rate": benign_rate,
            "benign_kinds": list(self._benign_kinds),
            "forced_failures": len(plans or {}),
            "realism": dataclasses.asdict(realism or Realism()),
            "confounders": self.confounders.names(),
        }
        self.start_ts = float(start_ts)
        # 5-minute devices beside 10-minute ones: tick twice as often, some skip one
        self.step_s = float(step_s) / (2.0 if self.confounders.sampling else 1.0)
        self.n_ticks = max(1, int(round(days * DAY / self.step_s)))
        self.end_ts = self.start_ts + self.n_ticks * self.step_s
        self.realism = realism or Realism()
        self.profiles = dict(profiles or load_profiles())
        self._parameters["models"] = sorted(self.profiles)
        rng = np.random.default_rng([seed, 0])
        customers, owners = draw_customers(rng, n_devices)
        if contact_factory is not None:
            customers = [with_contacts(c, contact_factory) for c in customers]
        self._customers = customers
        models = sorted(self.profiles)
        picks = rng.integers(len(models), size=n_devices)
        self._models = [models[i] for i in picks]
        self._ids = [f"{_prefix(m)}-{i + 1:05d}" for i, m in enumerate(self._models)]
        self._owners = owners
        life_rng = np.random.default_rng([seed, 3])
        self.regions = self._draw_regions(life_rng)
        self._plans = self._draw_plans(rng, failure_rate, plans or {})
        self._seconds = self._draw_seconds(np.random.default_rng([seed, 5]))
        self._blocks, benign = self._build_blocks(rng, benign_rate, life_rng)
        self._truth = self._trace_truth(self._plans)
        self._second_truth = self._trace_truth(self._seconds)
        self.devices = [self._device(i, benign.get(i, ())) for i in range(n_devices)]

    # -- construction -------------------------------------------------------------------

    def _draw_plans(
        self, rng: np.random.Generator, rate: float, forced: Mapping[int, FailurePlan]
    ) -> dict[int, FailurePlan]:
        failing = np.flatnonzero(rng.random(len(self._ids)) < rate)
        window = (self.start_ts, self.end_ts)
        plans: dict[int, FailurePlan] = {}
        for i in failing:
            modes = self.profiles[self._models[i]].failure_modes
            name = sorted(modes)[int(rng.integers(len(modes)))]
            plans[int(i)] = plan_failure(
                rng, name, modes[name].kind, window, self.step_s, shapes=self.confounders.shapes
            )
        plans.update(forced)
        return plans

    def _draw_seconds(self, rng: np.random.Generator) -> dict[int, FailurePlan]:
        """With the extended shapes, a sudden fault may be a step after a power event
        (``power_step``), and a fifth of the failing devices get a second fault; drawn
        from their own random stream, so the rest of the fleet stays as it was."""
        if not self.confounders.shapes:
            return {}
        seconds: dict[int, FailurePlan] = {}
        window = (self.start_ts, self.end_ts)
        for i, plan in sorted(self._plans.items()):
            if plan.kind == "sudden" and rng.random() < 0.5:
                self._plans[i] = plan = plan_power_step(rng, plan)
            if rng.random() < 0.2:
                modes = self.profiles[self._models[i]].failure_modes
                table = {n: (m.kind, m.metric) for n, m in modes.items()}
                second = plan_second(rng, plan, table, window, self.step_s)
                if second is not None:
                    seconds[i] = second
        return seconds

    def _draw_regions(self, rng: np.random.Generator) -> np.ndarray:
        """Each device's region: its owner's time zone, split in ``REGIONS_PER_ZONE``."""
        zones = sorted({c.timezone for c in self._customers})
        zone = np.array([zones.index(self._customers[o].timezone) for o in self._owners])
        return np.asarray(zone * REGIONS_PER_ZONE + rng.integers(REGIONS_PER_ZONE, size=len(zone)))

    def _build_blocks(
        self, rng: np.random.Generator, benign_rate: float, life_rng: np.random.Generator
    ) -> tuple[list[ModelBlock], dict[int, tuple[BenignChange, ...]]]:
        has_benign = rng.random(len(self._ids)) < benign_rate
        blocks, benign = [], {}
        on = self.confounders
        hours = int(np.ceil((self.end_ts - self.start_ts) / 3600.0)) + 2
        n_regions = int(self.regions.max()) + 1
        weather = (
            regional_weather(life_rng, hours, n_regions) if on.weather else np.zeros((n_regions, 1))
        )
        for model in sorted(self.profiles):
            rows = [i for i, m in enumerate(self._models) if m == model]
            if not rows:
                continue
            block, changes = build_block(
                rng,
                self.profiles[model],
                [self._ids[i] for i in rows],
                [self._customers[self._owners[i]].utc_offset_h for i in rows],
                [self._plans.get(i) for i in rows],
                [bool(has_benign[i]) for i in rows],
                (self.start_ts, self.end_ts, self.step_s),
                self.realism,
                LifeDraw(on, life_rng, self.regions[rows], weather) if on.any else None,
                [self._seconds.get(i) for i in rows],
                self._benign_kinds,
            )
            blocks.append(block)
            benign.update({rows[r]: c for r, c in changes.items()})
        return blocks, benign

    def _trace_truth(self, plans: Mapping[int, FailurePlan]) -> dict[str, GroundTruth]:
        truth: dict[str, GroundTruth] = {}
        index = {d: i for i, d in enumerate(self._ids)}
        for block in self._blocks:
            profile = self.profiles[block.model]
            for device_id, notice in first_breach(block, profile, plans, index).items():
                plan = plans[index[device_id]]
                metric = profile.failure_modes[plan.mode].metric
                truth[device_id] = GroundTruth(
                    device_id,
                    block.model,
                    plan.mode,
                    plan.kind,
                    plan.onset_ts,
                    notice,
                    metric,
                    "two_faults" if plan.second else plan.variant,
                )
        return truth

    def _device(self, i: int, benign: tuple[BenignChange, ...]) -> SimDevice:
        device_id, customer = self._ids[i], self._customers[self._owners[i]].id
        failure, second = self._truth.get(device_id), self._second_truth.get(device_id)
        return SimDevice(device_id, self._models[i], customer, failure, benign, second)

    # -- public API ---------------------------------------------------------------------

    def truth(self) -> list[GroundTruth]:
        """Every injected failure, in device order (a device's second fault after its first)."""
        return [t for d in self.devices for t in (d.failure, d.second) if t is not None]

    def benign(self) -> list[BenignTruth]:
        """Every benign change (which must not open a case), in device order."""
        return [
            BenignTruth(d.device_id, d.model, c.kind, c.metric, c.start_ts, c.end_ts, c.shift)
            for d in self.devices
            for c in d.benign
        ]

    def parameters(self) -> dict[str, object]:
        """The arguments this fleet was built with (JSON-ready)."""
        return dict(self._parameters)

    def customers(self) -> list[Customer]:
        return list(self._customers)

    def manifest(self) -> Manifest:
        """Customers and devices in the documented manifest format (JSON-ready)."""
        return {
            "customers": [c.to_manifest() for c in self._customers],
            "devices": [
                {"id": d.device_id, "model": d.model, "customer_id": d.customer_id}
                for d in self.devices
            ],
        }

    def with_contacts(self, factory: ContactFactory) -> Fleet:
        """A copy of this fleet whose customers' contacts come from ``factory``."""
        clone = copy.copy(self)
        clone._customers = [with_contacts(c, factory) for c in self._customers]
        return clone

    def frames(self) -> Iterator[tuple[float, list[Frame]]]:
        """Per tick, one array ``Frame`` per product model (the fast path)."""
        rng = np.random.default_rng([self.seed, 1])
        if not self.confounders.any:
            for k in range(self.n_ticks):
                frames = [block.frame(k, rng, self.realism) for block in self._blocks]
                yield self.start_ts + k * self.step_s, frames
            return
        life_rng = np.random.default_rng([self.seed, 4])
        memory = [np.full((len(b.device_ids), len(b.metrics)), np.nan) for b in self._blocks]
        for k in range(self.n_ticks):
            frames = [
                block.frame(k, rng, self.realism, mem, life_rng)
                for block, mem in zip(self._blocks, memory, strict=True)
            ]
            yield self.start_ts + k * self.step_s, frames

    def ticks(self) -> Iterator[tuple[float, list[Reading]]]:
        """Per tick, in time order, the readings every reporting device sent.

        A device in a late-delivery outage sends nothing until it ends, then everything
        it kept, in its own time order, ahead of its first new reading.
        """
        held: dict[str, list[Reading]] = {}
        for ts, frames in self.frames():
            out: list[Reading] = []
            for f in frames:
                late = (
                    set() if f.late is None else {f.device_ids[i] for i in np.flatnonzero(f.late)}
                )
                for r in frame_readings(f):
                    if r.device_id in late:
                        held.setdefault(r.device_id, []).append(r)
                        continue
                    out.extend(held.pop(r.device_id, ()))
                    out.append(r)
            yield ts, out

    def cohorts(self) -> dict[str, str]:
        """Device id -> its region as a path, ``"<time zone>/region-<n>"``: the devices of a
        region share their weather, those of a time zone their weekends."""
        zone = [self._customers[o].timezone for o in self._owners]
        return {
            d: f"{z}/region-{int(r)}" for d, z, r in zip(self._ids, zone, self.regions, strict=True)
        }

    def underlying(self, device_id: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Tick times and the noise-free value of one metric of one device."""
        for block in self._blocks:
            if device_id in block.device_ids:
                sub = block.subset(np.array([block.device_ids.index(device_id)]))
                ks = np.arange(self.n_ticks)
                values = sub.underlying(ks)[:, 0, block.metrics.index(metric)]
                return sub.times(ks), values
        raise KeyError(device_id)

    @property
    def readings_count(self) -> int:
        """Upper bound of readings ``ticks()`` yields (before dropouts)."""
        return self.n_ticks * len(self.devices)

    @classmethod
    def demo(
        cls,
        n_devices: int = 50,
        seed: int = 7,
        end_ts: float | None = None,
        days: float = 10.0,
        step_s: float = 600.0,
    ) -> Fleet:
        """History ending at ``end_ts`` (default now) where a few devices degrade.

        Up to six failures of different modes (``simulator.demo.DEMO_MODES``; fewer when
        a model has no device) start 4.5-7 days before the end and reach the
        user-visible limit 6-30 hours before it, leaving detection days of lead.
        """
        end = time.time() if end_ts is None else float(end_ts)
        start = (end - days * DAY) // step_s * step_s
        probe = cls(n_devices, seed, 0.0, start, days, step_s)
        plans = demo_plans(probe, np.random.default_rng([seed, 2]))
        fleet = cls(n_devices, seed, 0.0, start, days, step_s, plans=plans)
        fleet._parameters.update(preset="demo", end_ts=end)
        return fleet


def _prefix(model: str) -> str:
    return PREFIXES.get(model, model.split("-")[0])


def check_kinds(kinds: Sequence[str], on: Confounders) -> tuple[str, ...]:
    """``benign_kinds`` checked: known kinds, life kinds only with ``replacement``."""
    allowed = KINDS + LIFE_KINDS if on.replacement else KINDS
    unknown = [k for k in kinds if k not in allowed]
    if unknown:
        life = ", ".join(LIFE_KINDS)
        extra = "" if on.replacement else f" ({life} need the replacement confounder)"
        raise ValueError(
            f"unknown benign kind {', '.join(unknown)}: choose from {', '.join(allowed)}{extra}"
        )
    return tuple(dict.fromkeys(kinds))


def _check(n: int, seed: int, rate: float, benign: float, days: float, step: float) -> None:
    if n < 1:
        raise ValueError(f"n_devices must be at least 1, got {n}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if not (0.0 <= rate <= 1.0 and 0.0 <= benign <= 1.0):
        raise ValueError("failure_rate and benign_rate must lie in [0, 1]")
    if days <= 0 or step <= 0:
        raise ValueError("days and step_s must be positive")
