"""The ordinary life of real products: benign behaviour that must not open a case.

Each confounder is a switch of :class:`Confounders` (``kizuki evaluate --confounders``):

- ``weekly``: usage differs on local weekends; every device of a model moves the same way,
  each by its own amount (0.8-1.2 of the model's weekly swing, one daily amplitude).
- ``weather``: shared regional weather, multi-day spells (an Ornstein-Uhlenbeck process
  with a 2-day time constant, one per region: each time zone of the customers holds
  two regions) that move every outdoor-coupled metric of every device in the region
  together (``COUPLING``, per device 0.85-1.15 of it).
- ``seasonal``: a slow drift over the window, shared per region, on the same metrics.
- ``power_cuts``: the device is off for 15 min to 4 h (no readings), then starts cold: for
  the first hour its metrics sit toward their limits (up to 0.6 of the way, the more
  the longer it was off, cooling with a 1-hour time constant) and settle (10-20 min).
- ``revisions``: a third of the units are hardware revision B, whose healthy level sits
  a quarter of the normal width toward the limit (some outside the profile's range);
  every unit has its own offset too.
- ``sampling``: 5-minute models beside 10-minute ones (the fleet ticks every 5 min),
  readings' timestamps jitter by up to 20 s.
- ``late``: half of the connectivity outages deliver their readings late, in one batch.
- ``sensors``: a quarter of the (device, metric) sensors are sample-and-hold (report a
  new value only when it moved more than a deadband) and a quarter quantised (a coarse
  least significant bit).
- ``replacement``: benign changes include a replaced unit (every metric to a new level,
  after a few hours off) and a recalibrated sensor (one metric steps).

All draws come from their own random streams, so a fleet without confounders is the
same fleet as before they existed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from core.profiles import DeviceProfile

HOUR, DAY, WEEK = 3600.0, 86400.0, 7 * 86400.0
REGIONS_PER_ZONE = 2  # a time zone holds this many weather regions
WEATHER_TAU_H = 48.0
# Change per unit of weather anomaly, as a share of the metric's normal width.
COUPLING = {
    "cooling_delta_c": -0.2,
    "compressor_current_a": 0.2,
    "heatup_min": 0.25,
    "outlet_temp_c": -0.15,
    "bearing_temp_c": 0.25,
    "filter_dp_pa": 0.05,
}
FAST_MODELS = frozenset({"aircon-x1", "waterheater-w2"})  # 5-minute devices under `sampling`
COLD_START_S = 3600.0
COOL_S = 3600.0  # a unit switched off cools toward ambient with this time constant


@dataclass(frozen=True, slots=True)
class Confounders:
    """Which benign behaviours a fleet has (all off: the clean simulator)."""

    weekly: bool = False
    weather: bool = False
    seasonal: bool = False
    power_cuts: bool = False
    revisions: bool = False
    sampling: bool = False
    late: bool = False
    sensors: bool = False
    replacement: bool = False
    shapes: bool = False  # the extended failure shapes (simulator.failures)

    @classmethod
    def all(cls) -> Confounders:
        return cls(**{f.name: True for f in fields(cls)})

    @classmethod
    def parse(cls, text: str) -> Confounders:
        """``all``, ``none`` or a comma list of names, e.g. ``weather,weekly``."""
        text = text.strip().lower()
        if text in ("all", ""):
            return cls.all()
        if text == "none":
            return cls()
        names = {f.name for f in fields(cls)}
        chosen = {part.strip() for part in text.split(",") if part.strip()}
        unknown = chosen - names
        if unknown:
            raise ValueError(f"unknown confounders {sorted(unknown)}; choose from {sorted(names)}")
        return cls(**{n: True for n in chosen})

    def names(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]

    @property
    def any(self) -> bool:
        return bool(self.names())


@dataclass(frozen=True, slots=True)
class Life:
    """Per-device arrays of one model block's confounders (empty arrays when off)."""

    utc_h: np.ndarray  # (n,)
    region: np.ndarray  # (n,) int
    weekly: np.ndarray  # (n, m) offset on local weekends
    coupling: np.ndarray  # (n, m) per unit of weather
    season: np.ndarray  # (n, m) drift over the whole window
    weather: np.ndarray  # (regions, hours) weather anomaly per region, hourly
    cuts: np.ndarray  # (c, 4): row, start, end, settle time constant
    cold: np.ndarray  # (m,) cold-start offset at power-on (toward the limit)
    holds: np.ndarray  # (n, m) sample-and-hold deadband, 0 = reports every value
    quantum: np.ndarray  # (n, m) least significant bit, 0 = fine
    every: np.ndarray  # (n,) ticks between readings
    phase: np.ndarray  # (n,) tick offset of the readings
    start_ts: float
    span_s: float
    jitter_s: float

    def subset(self, rows: np.ndarray, pos: np.ndarray) -> Life:
        keep = pos[self.cuts[:, 0].astype(int)] >= 0 if len(self.cuts) else np.zeros(0, bool)
        cuts = self.cuts[keep].copy()
        if len(cuts):
            cuts[:, 0] = pos[cuts[:, 0].astype(int)]
        return Life(
            self.utc_h[rows],
            self.region[rows],
            self.weekly[rows],
            self.coupling[rows],
            self.season[rows],
            self.weather,
            cuts,
            self.cold,
            self.holds[rows],
            self.quantum[rows],
            self.every[rows],
            self.phase[rows],
            self.start_ts,
            self.span_s,
            self.jitter_s,
        )

    def offsets(self, t: np.ndarray, out: np.ndarray) -> None:
        """Add weekly, weather, seasonal and cold-start offsets to ``out[time, row, col]``."""
        local = t[:, None] + self.utc_h[None, :] * HOUR
        weekday = np.floor(local / DAY + 3.0) % 7  # 1970-01-01 was a Thursday: Monday = 0
        out += (weekday >= 5)[:, :, None] * self.weekly[None]
        hours = np.clip((t - self.start_ts) / HOUR, 0, self.weather.shape[1] - 1)
        lo = np.floor(hours).astype(int)
        hi = np.minimum(lo + 1, self.weather.shape[1] - 1)
        w = self.weather[:, lo] + (hours - lo) * (self.weather[:, hi] - self.weather[:, lo])
        out += w.T[:, self.region][:, :, None] * self.coupling[None]
        frac = np.clip((t - self.start_ts) / self.span_s, 0.0, 1.0)
        out += frac[:, None, None] * self.season[None]
        for row, begin, end, tau in self.cuts:
            since = t - end
            on = (since >= 0) & (since < COLD_START_S)
            if on.any():  # the longer it was off, the colder it starts
                cooled = -np.expm1(-(end - begin) / COOL_S)
                decay = np.where(on, np.exp(-np.maximum(since, 0) / tau), 0.0) * cooled
                out[:, int(row), :] += decay[:, None] * self.cold[None]

    def reporting(self, k: int, ts: float) -> np.ndarray:
        """Rows that take a reading at tick ``k`` (cadence, and not switched off)."""
        due = (k - self.phase) % self.every == 0
        if len(self.cuts):
            off = (self.cuts[:, 1] <= ts) & (ts < self.cuts[:, 2])
            due[self.cuts[off, 0].astype(int)] = False
        return np.asarray(due)

    def sense(self, values: np.ndarray, memory: np.ndarray) -> np.ndarray:
        """What the sensors report: sample-and-hold within a deadband, quantised."""
        q = self.quantum
        out = np.where(q > 0, np.round(values / np.where(q > 0, q, 1.0)) * q, values)
        held = (self.holds > 0) & (np.abs(out - memory) < self.holds) & ~np.isnan(memory)
        out = np.where(held, memory, out)
        return np.asarray(out)


def no_life(n: int, m: int, start: float, span: float) -> Life:
    """The clean simulator: no confounder at all."""
    zeros = np.zeros((n, m))
    return Life(
        np.zeros(n),
        np.zeros(n, int),
        zeros,
        zeros,
        zeros,
        np.zeros((1, 1)),
        np.zeros((0, 4)),
        np.zeros(m),
        zeros,
        zeros,
        np.ones(n, int),
        np.zeros(n, int),
        start,
        span,
        0.0,
    )


def draw_life(
    rng: np.random.Generator,
    profile: DeviceProfile,
    utc_h: np.ndarray,
    region: np.ndarray,
    weather: np.ndarray,
    grid: tuple[float, float, float],
    on: Confounders,
) -> Life:
    """Every confounder of one model's devices (the switched-off ones are zero)."""
    start, end, step = grid
    names = list(profile.metrics)
    specs = [profile.metrics[m] for m in names]
    n, m = len(utc_h), len(names)
    width = np.array([s.normal[1] - s.normal[0] for s in specs])
    toward = np.array([1.0 if s.direction == "up" else -1.0 for s in specs])
    room = np.array([abs(s.limit - sum(s.normal) / 2) for s in specs])
    daily = np.array([s.daily_amplitude for s in specs])
    own = rng.uniform(0.8, 1.2, (n, 1))
    weekly = daily * toward * own if on.weekly else np.zeros((n, m))
    couple = np.array([COUPLING.get(x, 0.0) for x in names]) * width
    coupling = couple * rng.uniform(0.85, 1.15, (n, 1)) if on.weather else np.zeros((n, m))
    drift = np.asarray(rng.uniform(-0.15, 0.15, weather.shape[0]))[region][:, None]
    season = drift * np.abs(couple) / 0.3 * np.sign(couple) if on.seasonal else np.zeros((n, m))
    cuts = _cuts(rng, n, start, end) if on.power_cuts else np.zeros((0, 4))
    cold = 0.6 * room * toward
    holds, quantum = _sensors(rng, specs, n) if on.sensors else (np.zeros((n, m)),) * 2
    fast = profile.model in FAST_MODELS
    every = np.full(n, 1 if fast or not on.sampling else 2)
    phase = rng.integers(0, 2, n) if on.sampling else np.zeros(n, int)
    return Life(
        np.asarray(utc_h, float),
        region,
        weekly,
        coupling,
        season,
        weather if on.weather else np.zeros((weather.shape[0], 1)),
        cuts,
        cold,
        holds,
        quantum,
        every,
        phase,
        start,
        end - start,
        20.0 if on.sampling else 0.0,
    )


def _cuts(rng: np.random.Generator, n: int, start: float, end: float) -> np.ndarray:
    """Power cuts for 40% of the devices, one to three each: (row, start, end, tau)."""
    rows = []
    for r in np.flatnonzero(rng.random(n) < 0.4):
        for _ in range(int(rng.integers(1, 4))):
            t0 = float(rng.uniform(start + 0.1 * (end - start), end))
            t1 = t0 + float(rng.uniform(0.25, 4.0)) * HOUR
            rows.append((r, t0, t1, float(rng.uniform(600.0, 1200.0))))
    return np.array(rows, dtype=float).reshape(-1, 4)


def _sensors(rng: np.random.Generator, specs: list, n: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    noise = np.array([max(s.noise, 1e-6) for s in specs])
    kind = rng.random((n, len(specs)))
    holds = np.where(kind < 0.25, noise * rng.uniform(1.0, 2.0, (n, len(specs))), 0.0)
    quantum = np.where((kind >= 0.25) & (kind < 0.5), noise * rng.uniform(1.0, 2.5, (n, 1)), 0.0)
    return holds, quantum


def regional_weather(rng: np.random.Generator, hours: int, regions: int) -> np.ndarray:
    """One weather anomaly series per region (unit variance, 2-day spells), hourly."""
    a = np.exp(-1.0 / WEATHER_TAU_H)
    steps = rng.standard_normal((regions, hours)) * np.sqrt(1.0 - a * a)
    out = np.empty((regions, hours))
    out[:, 0] = rng.standard_normal(regions)
    for h in range(1, hours):
        out[:, h] = a * out[:, h - 1] + steps[:, h]
    return out


def revision_offsets(
    rng: np.random.Generator, profile: DeviceProfile, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Level offsets of revision B (a third of the units) plus every unit's own offset."""
    specs = list(profile.metrics.values())
    width = np.array([s.normal[1] - s.normal[0] for s in specs])
    toward = np.array([1.0 if s.direction == "up" else -1.0 for s in specs])
    rev_b = rng.random(n) < 1.0 / 3.0
    offset = rev_b[:, None] * 0.25 * width * toward + rng.normal(0, 0.05, (n, len(specs))) * width
    return offset, rev_b
