"""DetectorBank: every (device, metric) stream, the fleet peer model, and the events.

``update(readings)`` groups a batch by product model and metric, runs each group
through that metric's :class:`~anomaly.block.StreamBlock` (the compiled kernel, values
in reading order), turns alarm edges into ``AnomalyEvent``s with a suspected failure
mode and an explanation, and keeps one open anomaly per (device, failure mode) until
every metric that raised it has recovered. Edges are handled in reading order; the
attribution and the explanation use each metric's numbers as they were right after
the reading that raised the edge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from anomaly import kernel as k
from anomaly import kinds
from anomaly.attribution import attribute, bump, describe, second_fault
from anomaly.block import ANOMALY, ARRAYS, StreamBlock
from anomaly.checkpoint import read_checkpoint, write_checkpoint
from anomaly.cohort import CohortConfig
from anomaly.eta import Eta, forecast
from anomaly.peers import FleetPeerModel, PeerConfig
from anomaly.stream import StreamConfig
from core.devices import Directory
from core.events import AnomalyEvent, EventKind, Explanation, Severity
from core.profiles import DeviceProfile
from core.readings import Reading

SECOND_CHECK_S = 3600.0  # how often devices with an open anomaly are checked again


@dataclass(frozen=True, slots=True)
class BankConfig:
    """Stream hyper-parameters, cohort filter and fleet peer-model settings."""

    stream: StreamConfig = field(default_factory=StreamConfig)
    peers: PeerConfig = field(default_factory=PeerConfig)
    cohort: CohortConfig = field(default_factory=CohortConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BankConfig:
        return cls(
            StreamConfig(**data["stream"]),
            PeerConfig(**data["peers"]),
            CohortConfig(**data.get("cohort", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream.to_dict(),
            "peers": self.peers.to_dict(),
            "cohort": self.cohort.to_dict(),
        }


@dataclass(slots=True)
class _Open:
    started_at: float
    metrics: set[str]


class ModelStreams:
    """The devices of one product model: per metric a CohortFilter and a StreamBlock."""

    def __init__(
        self,
        model: str,
        profile: DeviceProfile,
        cfg: BankConfig,
        cohort: Callable[[str], str | None],
    ) -> None:
        self.model, self.profile, self.cfg, self.cohort = model, profile, cfg, cohort
        self.filters: dict[str, dict[str, Any]] = {}  # metric -> filter kind -> its rows
        self.blocks: dict[str, StreamBlock] = {}  # metric -> the detector kind's rows
        self.slots: dict[str, dict[str, int]] = {}  # metric -> device -> row
        self.names: dict[str, list[str]] = {}  # metric -> row -> device
        self.open: dict[str, dict[str, _Open]] = {}  # device -> failure mode -> open

    def block(self, metric: str) -> StreamBlock | None:
        block = self.blocks.get(metric)
        if block is None and metric in self.profile.metrics:
            spec = self.profile.metrics[metric]
            # the bank reads the detector's state for explanations and peer features
            block = self.blocks[metric] = cast(StreamBlock, kinds.detector().make(spec, self.cfg))
            self.filters[metric] = {f.name: f.make(spec, self.cfg) for f in kinds.filters()}
            self.slots[metric], self.names[metric] = {}, []
        return block

    def slot(self, metric: str, device_id: str) -> int:
        slots = self.slots[metric]
        row = slots.get(device_id)
        if row is None:
            key = self.cohort(device_id) or ""
            row = slots[device_id] = self.blocks[metric].add(key)
            for f in self.filters[metric].values():
                f.add(key)
            self.names[metric].append(device_id)
        return row

    def features(self) -> tuple[list[str], np.ndarray]:
        """Per device, for each metric: level fraction and trend per day (peer model)."""
        devices = sorted(self.open)
        row = {d: i for i, d in enumerate(devices)}
        X = np.zeros((len(devices), 2 * len(self.blocks)))
        for j, metric in enumerate(sorted(self.blocks)):
            block, slots = self.blocks[metric], self.slots[metric]
            rows = np.array([row[d] for d in slots], dtype=np.int64)
            at = np.fromiter(slots.values(), dtype=np.int64, count=len(slots))
            X[rows, 2 * j] = block.level_fracs()[at]
            X[rows, 2 * j + 1] = block.room_frac_per_day()[at]
        return devices, X


class _Group:
    """One batch's values for one block: (row, ts, value, reading order tag) each."""

    __slots__ = (
        "fleet",
        "metric",
        "block",
        "filters",
        "entries",
        "rows",
        "ts",
        "xs",
        "tags",
        "pre",
        "snaps",
    )

    def __init__(self, fleet: ModelStreams, metric: str, block: StreamBlock) -> None:
        self.fleet, self.metric, self.block = fleet, metric, block
        self.filters = list(fleet.filters[metric].values())
        self.entries: list[tuple[int, float, float, int]] = []

    def freeze(self) -> None:
        table = np.array(self.entries, dtype=np.float64)
        self.rows = table[:, 0].astype(np.int64)
        self.ts, self.xs = table[:, 1].copy(), table[:, 2].copy()
        self.tags = table[:, 3].astype(np.int64)

    def run(self) -> np.ndarray:
        """Run the block over the values in order, behind the filter (cohort movement
        out, settling rows held back); keep what the edges will need."""
        self.pre = self.block.F[self.rows, k.LEVEL_FRAC]  # before this batch
        edges: np.ndarray
        if self.filters:  # a filter runs the detector behind it, value by value
            edges = self.filters[0].run(self.block, self.rows, self.ts, self.xs)
        else:
            edges = self.block.update(self.rows, self.ts, self.xs)
        self.snaps = self.block.snaps
        return edges

    def level_frac_at(self, row: int, reading: int) -> float | None:
        """The row's level fraction right after reading ``reading`` (None: not here)."""
        at = np.flatnonzero(self.rows == row)
        if not len(at):
            return None
        before = at[self.tags[at] < (reading + 1) * 256]
        return float(self.snaps[before[-1], k.S_LEVEL_FRAC] if len(before) else self.pre[at[0]])


class DetectorBank:
    """Streaming detection for a fleet, keyed by (device, metric).

    ``directory(device_id)`` names the product model (None = unknown device, ignored);
    ``cohort(device_id)`` its region or any group of devices that share their
    surroundings (None: the whole product model is one cohort).
    Thread-safe: ``update``, ``explain`` and ``save`` may be called from different threads.
    """

    def __init__(
        self,
        profiles: dict[str, DeviceProfile],
        directory: Directory,
        config: BankConfig | None = None,
        cohort: Callable[[str], str | None] | None = None,
    ) -> None:
        self.profiles = profiles
        self.directory = directory
        self.cohort: Callable[[str], str | None] = cohort or (lambda device_id: None)
        self.config = config or BankConfig()
        self.models: dict[str, ModelStreams] = {}
        self._device_model: dict[str, ModelStreams] = {}
        self._routes: dict[str, dict[str, Any]] = {}  # device -> metric -> (group, row)
        self._groups: dict[int, _Group] = {}  # per block, reused batch after batch
        self.peers = FleetPeerModel(self.config.peers)
        self._lock = threading.RLock()
        self.extra: dict[str, Any] = {}  # the caller's state saved with the checkpoint
        self.restored_kinds: list[str] = []  # kinds a checkpoint gave back (load)
        self._next_second = -np.inf  # next look for a second fault (_second_faults)

    def update(self, readings: Sequence[Reading]) -> list[AnomalyEvent]:
        """Feed readings (oldest first); return anomaly and recovery events."""
        with self._lock:
            groups = self._group(readings)
            # tags (reading, metric) are unique within a batch: edges go in reading order
            fired: list[tuple[int, _Group, int, bool]] = []
            for group in groups:
                edges = group.run()
                for pos in np.flatnonzero(edges).tolist():
                    fired.append((int(group.tags[pos]), group, pos, edges[pos] == ANOMALY))
            events: list[AnomalyEvent] = []
            if fired:
                fired.sort(key=lambda f: f[0])
                by_block = {id(g.block): g for g in groups}
                for tag, group, pos, raised in fired:
                    self._on_edge(group, pos, tag // 256, raised, by_block, events)
            if readings:
                self.peers.maybe_refit(readings[-1].ts, self._peer_features)
                self._second_faults(readings[-1].ts, events)
            return events

    def _second_faults(self, ts: float, events: list[AnomalyEvent]) -> None:
        """Once an hour: on devices with an open anomaly, a metric in alarm that has
        moved further than the open modes explain opens the mode it is primary for (a
        second fault; its own alarm edge came while the first fault held it)."""
        if ts < self._next_second:
            return
        self._next_second = ts + SECOND_CHECK_S
        for fleet in self.models.values():
            for device_id, opened in fleet.open.items():
                if opened:
                    self._second_fault(fleet, device_id, opened, ts, events)

    def _second_fault(
        self,
        fleet: ModelStreams,
        device_id: str,
        opened: dict[str, _Open],
        ts: float,
        events: list[AnomalyEvent],
    ) -> None:
        rows = {m: slots[device_id] for m, slots in fleet.slots.items() if device_id in slots}
        fracs = {m: fleet.blocks[m].level_frac(row) for m, row in rows.items()}
        for metric, row in rows.items():
            block = fleet.blocks[metric]
            if not block.IX[row, k.ACTIVE]:
                continue
            come_and_go = bool(block.F[row, k.SPIKES] >= block.cfg.spike_mass)
            mode = second_fault(fleet.profile, fracs, metric, opened, episodes=come_and_go)
            if mode is not None:
                opened[mode] = _Open(ts, {metric})
                snap = block.snapshot(row, ts)
                events.append(self._event(device_id, fleet, metric, mode, "anomaly", ts, ts, snap))

    def _group(self, readings: Sequence[Reading]) -> list[_Group]:
        touched: list[_Group] = []
        routes = self._routes
        try:
            for i, r in enumerate(readings):
                device_id, ts = r.device_id, r.ts
                route = routes.get(device_id)
                if route is None:
                    if self._register(device_id) is None:
                        continue
                    route = routes[device_id] = {}
                for j, (metric, value) in enumerate(r.metrics.items()):
                    target = route.get(metric)
                    if target is None:
                        target = route[metric] = self._route(device_id, metric)
                    if target is not None:
                        group, row = target
                        if not group.entries:
                            touched.append(group)
                        group.entries.append((row, ts, value, i * 256 + j))
            for group in touched:
                group.freeze()
        finally:
            for group in touched:
                group.entries = []
        return touched

    def _route(self, device_id: str, metric: str) -> tuple[_Group, int] | None:
        """The (group, row) a device's metric goes to; None for a metric not profiled
        (ingest dead-letters those for registered devices, so this is rare)."""
        fleet = self._device_model[device_id]
        block = fleet.block(metric)
        if block is None:
            return None
        group = self._groups.get(id(block))
        if group is None:
            group = self._groups[id(block)] = _Group(fleet, metric, block)
        return group, fleet.slot(metric, device_id)

    def _register(self, device_id: str) -> ModelStreams | None:
        known = self._device_model.get(device_id)
        if known is not None:
            return known
        model = self.directory(device_id)  # cached by the directory (core.devices)
        profile = self.profiles.get(model) if model else None
        if model is None or profile is None:
            return None
        fleet = self.models.get(model)
        if fleet is None:
            fleet = self.models[model] = ModelStreams(model, profile, self.config, self.cohort)
        fleet.open.setdefault(device_id, {})
        self._device_model[device_id] = fleet
        return fleet

    def _on_edge(
        self,
        group: _Group,
        pos: int,
        reading: int,
        raised: bool,
        by_block: dict[int, _Group],
        events: list[AnomalyEvent],
    ) -> None:
        fleet, metric = group.fleet, group.metric
        device_id = fleet.names[metric][int(group.rows[pos])]
        ts, snap = float(group.ts[pos]), group.snaps[pos]
        opened = fleet.open[device_id]
        if raised:
            mode = _stuck_mode(fleet.profile, metric, group.block, snap)
            if mode is None:
                fracs = self._fracs(fleet, device_id, reading, by_block)
                # a level that moves is the product's doing before it is the sensor's
                mode = attribute(fleet.profile, fracs, metric, frozenset({"sensor"}))
                if mode in opened:  # unless the open modes cannot explain this move
                    come_and_go = bool(snap[k.S_SPIKES] >= group.block.cfg.spike_mass)
                    second = second_fault(
                        fleet.profile, fracs, metric, opened, episodes=come_and_go
                    )
                    mode = second or mode
            if mode in opened:
                opened[mode].metrics.add(metric)
                return
            opened[mode] = _Open(ts, {metric})
            events.append(self._event(device_id, fleet, metric, mode, "anomaly", ts, ts, snap))
            return
        for mode, op in list(opened.items()):
            if metric in op.metrics:
                op.metrics.discard(metric)
                if not op.metrics:
                    del opened[mode]
                    events.append(
                        self._event(
                            device_id, fleet, metric, mode, "recovery", ts, op.started_at, snap
                        )
                    )

    def _fracs(
        self, fleet: ModelStreams, device_id: str, reading: int, by_block: dict[int, _Group]
    ) -> dict[str, float]:
        """Every metric's level fraction of the device as it was after ``reading``."""
        fracs = {}
        for metric, slots in fleet.slots.items():
            row = slots.get(device_id)
            if row is None:
                continue
            block = fleet.blocks[metric]
            group = by_block.get(id(block))
            frac = group.level_frac_at(row, reading) if group is not None else None
            fracs[metric] = block.level_frac(row) if frac is None else frac
        return fracs

    def _event(
        self,
        device_id: str,
        fleet: ModelStreams,
        metric: str,
        mode: str,
        kind: EventKind,
        ts: float,
        started_at: float,
        snap: np.ndarray,
    ) -> AnomalyEvent:
        block = fleet.blocks[metric]
        fm = fleet.profile.failure_modes[mode]
        why = self._why(device_id, block, metric, ts, snap, kind == "anomaly", fm.kind)
        severity = fm.severity
        eta = why.eta_ts
        if kind == "anomaly" and (block.spec.breached(why.observed) or (eta and eta - ts < 86400)):
            severity = cast(Severity, bump(severity))
        window = _eta(block, snap, ts, fm.kind) if kind == "anomaly" else None
        extra: dict[str, Any] = {
            "level_frac": round(float(snap[k.S_LEVEL_FRAC]), 4),
            "eta_range": None if window is None else [window.earliest, window.latest],
            "kb_article": fm.kb_article,
            "skill": fm.skill,
            "peer_score": self.peers.score(device_id),
            "breached": bool(block.spec.breached(why.observed)),
        }
        return AnomalyEvent(
            device_id=device_id,
            model=fleet.model,
            failure_mode=mode,
            kind=kind,
            ts=ts,
            started_at=started_at,
            severity=severity,
            score=round(float(snap[k.S_SCORE]), 4),
            why=why,
            extra=extra,
        )

    def explain(self, device_id: str, metric: str, ts: float, fired: bool = True) -> Explanation:
        """Numbers behind one metric of one device now (KeyError if never seen)."""
        with self._lock:
            fleet = self._device_model[device_id]
            block = fleet.blocks[metric]
            snap = block.snapshot(fleet.slots[metric][device_id], ts)
            return self._why(device_id, block, metric, ts, snap, fired)

    def _why(
        self,
        device_id: str,
        block: StreamBlock,
        metric: str,
        ts: float,
        snap: np.ndarray,
        fired: bool,
        mode_kind: str = "gradual",
    ) -> Explanation:
        spec = block.spec
        expected, observed = float(snap[k.S_EXPECTED]), float(snap[k.S_SMOOTH])
        eta = _eta(block, snap, ts, mode_kind) if fired else None
        detectors = block.fired(snap) if fired else ()
        if fired and self.peers.flagged(device_id):
            detectors = (*detectors, "peers")
        level = snap[k.S_LEVEL]
        per_day = float(snap[k.S_RATE]) if level == level else None
        eta_ts = None if eta is None else eta.ts
        return Explanation(
            metric=metric,
            unit=spec.unit,
            expected=expected,
            observed=observed,
            trend_per_day=per_day,
            limit=spec.limit,
            eta_ts=eta_ts,
            detectors=detectors,
            text=describe(metric, spec, expected, observed, per_day, eta_ts, ts)
            + _range_text(eta, ts),
        )

    def _peer_features(self) -> list[tuple[list[str], np.ndarray]]:
        return [fleet.features() for fleet in self.models.values()]

    def accept(self, device_id: str, mode: str) -> dict[str, Any] | None:
        """Learn a false positive: the metrics of ``mode`` on the device take their current
        level as normal. Returns what ``restore`` needs to undo it (plain JSON values), or
        None when the bank does not know the device or the failure mode."""
        with self._lock:
            fleet = self._device_model.get(device_id)
            if fleet is None or mode not in fleet.profile.failure_modes:
                return None
            fm = fleet.profile.failure_modes[mode]
            undo: dict[str, Any] = {}
            for metric in fm.effects or {fm.metric: 1.0}:
                row = fleet.slots.get(metric, {}).get(device_id)
                if row is not None:
                    block = fleet.blocks[metric]
                    undo[metric] = {n: getattr(block, n)[row].tolist() for n in ARRAYS}
                    block.accept(row)
            return undo

    def restore(self, device_id: str, undo: dict[str, Any]) -> None:
        """Put the device's rows back as ``accept`` found them (a withdrawn label)."""
        with self._lock:
            fleet = self._device_model.get(device_id)
            if fleet is None:
                return
            for metric, arrays in undo.items():
                row = fleet.slots.get(metric, {}).get(device_id)
                if row is not None:
                    block = fleet.blocks[metric]
                    for name, values in arrays.items():
                        getattr(block, name)[row] = np.asarray(values)

    def assess(self, device_id: str, mode: str, ts: float) -> AnomalyEvent | None:
        """The open anomaly ``mode`` of the device as its newest numbers show it now (kind
        "update"; severity, explanation and ETA from the current state); None if not open."""
        with self._lock:
            fleet = self._device_model.get(device_id)
            op = fleet.open.get(device_id, {}).get(mode) if fleet else None
            if fleet is None or op is None:
                return None
            fm = fleet.profile.failure_modes[mode]
            metric = fm.metric if fm.metric in op.metrics else sorted(op.metrics)[0]
            row = fleet.slots[metric][device_id]
            snap = fleet.blocks[metric].snapshot(row, ts)
            event = self._event(device_id, fleet, metric, mode, "anomaly", ts, op.started_at, snap)
            return replace(event, kind="update")

    def device_count(self) -> int:
        """Devices with detector state."""
        return len(self._device_model)

    def open_modes(self, device_id: str) -> list[str]:
        """The device's failure modes with an anomaly not yet recovered, sorted."""
        with self._lock:
            fleet = self._device_model.get(device_id)
            return sorted(fleet.open.get(device_id, {})) if fleet else []

    def open_anomalies(self) -> dict[tuple[str, str], float]:
        """(device, failure mode) -> started_at for every anomaly not yet recovered."""
        with self._lock:
            return {
                (d, m): op.started_at
                for fleet in self.models.values()
                for d, opened in fleet.open.items()
                for m, op in opened.items()
            }

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> None:
        """Write a checkpoint atomically; the state is copied under the lock first.
        ``extra`` (JSON values) is saved with it and comes back as ``load(...).extra``."""
        with self._lock:
            header, arrays = _snapshot(self)
            header["extra"] = dict(extra or {})
        write_checkpoint(Path(path), header, arrays)

    @classmethod
    def load(
        cls,
        path: str | Path,
        profiles: dict[str, DeviceProfile],
        directory: Callable[[str], str | None],
        cohort: Callable[[str], str | None] | None = None,
    ) -> DetectorBank:
        """Rebuild a bank from ``save()``; models whose profile is gone are dropped.

        Each detector kind whose name and version the checkpoint records is restored;
        a kind it does not hold (new, or of another version) starts fresh beside them.
        """
        header, arrays = read_checkpoint(Path(path))
        bank = cls(profiles, directory, BankConfig.from_dict(header["config"]), cohort)
        held = header.get("kinds", {"stream": 1})
        same = {name for name, v in kinds.versions().items() if held.get(name) == v}
        for model, info in header["models"].items():
            if model in profiles:
                _restore(bank, model, info, arrays, same)
        bank.peers.load_state_dict(header["peers"])
        bank.extra = dict(header.get("extra") or {})
        bank.restored_kinds = sorted(same)
        return bank


def _stuck_mode(
    profile: DeviceProfile, metric: str, block: StreamBlock, snap: np.ndarray
) -> str | None:
    """A collapsed variance is the sensor's doing: its sensor failure mode, if any."""
    if snap[k.S_FLAT] < block.cfg.flat_n:
        return None
    sensor = [
        n for n, m in profile.failure_modes.items() if m.kind == "sensor" and m.metric == metric
    ]
    return sensor[0] if sensor else None


def _eta(block: StreamBlock, snap: np.ndarray, ts: float, kind: str = "gradual") -> Eta | None:
    """The time to the limit and its interval, where the alarm gives a basis for one."""
    if not _trended(block, snap, kind):
        return None
    return forecast(
        float(snap[k.S_LEVEL]),
        float(snap[k.S_RATE]),
        float(snap[k.S_BASE]),
        block.spec.limit,
        float(snap[k.S_ETA]),
        ts,
    )


def _range_text(eta: Eta | None, ts: float) -> str:
    if eta is None:
        return ""
    lo, hi = (eta.earliest - ts) / 86400.0, (eta.latest - ts) / 86400.0
    return f" (between {lo:.1f} and {hi:.1f} days)"


def _trended(block: StreamBlock, snap: np.ndarray, kind: str = "gradual") -> bool:
    """Whether the alarm rests on a level that moves toward the limit (drift, ramp,
    level, normal range): only then does a time to the limit have a basis. A stuck
    sensor, spikes or the episodes of an intermittent fault give none ("unknown")."""
    cfg = block.cfg
    if kind != "gradual":  # sudden trips, intermittent faults and sensors give no basis
        return False
    if snap[k.S_SPIKES] >= cfg.spike_mass or snap[k.S_FLAT] >= cfg.flat_n:
        return False
    return bool(
        snap[k.S_DRIFT] >= 1.0
        or snap[k.S_RAMPING] >= 1.0
        or snap[k.S_LEVEL_FRAC] >= cfg.p_big
        or snap[k.S_OUT] >= cfg.out_frac
    )


def _snapshot(bank: DetectorBank) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    models: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, fleet in bank.models.items():
        models[name] = {
            "slots": {m: list(slots) for m, slots in fleet.slots.items()},
            "open": {
                d: {m: [op.started_at, sorted(op.metrics)] for m, op in opened.items()}
                for d, opened in fleet.open.items()
            },
        }
        for metric, block in fleet.blocks.items():
            units = {block.name: block, **fleet.filters[metric]}
            for kind, unit in units.items():
                for key, value in unit.state_dict().items():  # state_dict() gives copies
                    arrays[f"{name}/{metric}/{kind}/{key}"] = value
    header = {
        "config": bank.config.to_dict(),
        "models": models,
        "kinds": kinds.versions(),
        "peers": bank.peers.state_dict(),
    }
    return header, arrays


def _restore(
    bank: DetectorBank, model: str, info: dict[str, Any], arrays: Any, same: set[str]
) -> None:
    fleet = ModelStreams(model, bank.profiles[model], bank.config, bank.cohort)
    bank.models[model] = fleet
    for device_id, opened in info["open"].items():
        fleet.open[device_id] = {m: _Open(float(t), set(ms)) for m, (t, ms) in opened.items()}
        bank._device_model[device_id] = fleet
    for metric, devices in info["slots"].items():
        block = fleet.block(metric)
        if block is None:
            continue
        units = {block.name: block, **fleet.filters[metric]}
        for kind, unit in units.items():
            prefix = f"{model}/{metric}/{kind}/"
            if kind in same and any(key.startswith(prefix) for key in arrays):
                names = [key[len(prefix) :] for key in arrays if key.startswith(prefix)]
                unit.load_state_dict({n: arrays[prefix + n] for n in names})
            else:  # a kind this checkpoint does not hold: fresh rows for its devices
                for device_id in devices:
                    unit.add(bank.cohort(device_id) or "")
        for f in fleet.filters[metric].values():
            f.attach(block)
        fleet.slots[metric] = {d: i for i, d in enumerate(devices)}
        fleet.names[metric] = list(devices)
