"""DetectorBank: every (device, metric) stream, the fleet peer model, and the events.

``update(readings)`` groups a batch by product model and metric, runs each group
through that metric's :class:`~anomaly.block.StreamBlock` in one vectorised step (a
device that reports twice in a batch is handled in order, in rounds), turns alarm
edges into ``AnomalyEvent``s with a suspected failure mode and an explanation, and
keeps one open anomaly per (device, failure mode) until every metric that raised it
has recovered. Edges are handled in reading order, after every metric of the round
has been updated, so the attribution sees the whole reading.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anomaly.attribution import attribute, bump, describe
from anomaly.base import AnomalyEvent, Explanation
from anomaly.block import ANOMALY, StreamBlock
from anomaly.checkpoint import read_checkpoint, write_checkpoint
from anomaly.peers import FleetPeerModel, PeerConfig
from anomaly.profiles import DeviceProfile
from anomaly.stream import StreamConfig
from ingest.base import Reading

UNKNOWN_RECHECK_S = 300.0  # ask the directory again about an unknown device after this


@dataclass(frozen=True, slots=True)
class BankConfig:
    """Stream hyper-parameters and fleet peer-model settings."""

    stream: StreamConfig = field(default_factory=StreamConfig)
    peers: PeerConfig = field(default_factory=PeerConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BankConfig:
        return cls(StreamConfig(**data["stream"]), PeerConfig(**data["peers"]))

    def to_dict(self) -> dict[str, Any]:
        return {"stream": self.stream.to_dict(), "peers": self.peers.to_dict()}


@dataclass(slots=True)
class _Open:
    started_at: float
    metrics: set[str]


class ModelStreams:
    """The devices of one product model and one StreamBlock per metric."""

    def __init__(self, model: str, profile: DeviceProfile, cfg: StreamConfig) -> None:
        self.model, self.profile, self.cfg = model, profile, cfg
        self.blocks: dict[str, StreamBlock] = {}
        self.slots: dict[str, dict[str, int]] = {}  # metric -> device -> row
        self.names: dict[str, list[str]] = {}  # metric -> row -> device
        self.open: dict[str, dict[str, _Open]] = {}  # device -> failure mode -> open

    def block(self, metric: str) -> StreamBlock | None:
        block = self.blocks.get(metric)
        if block is None and metric in self.profile.metrics:
            block = self.blocks[metric] = StreamBlock(self.profile.metrics[metric], self.cfg)
            self.slots[metric], self.names[metric] = {}, []
        return block

    def slot(self, metric: str, device_id: str) -> int:
        slots = self.slots[metric]
        row = slots.get(device_id)
        if row is None:
            row = slots[device_id] = self.blocks[metric].add()
            self.names[metric].append(device_id)
        return row

    def fracs(self, device_id: str) -> dict[str, float]:
        return {m: float(self.blocks[m].level_frac[s]) for m, slots in self.slots.items()
                if (s := slots.get(device_id)) is not None}  # fmt: skip

    def features(self) -> tuple[list[str], np.ndarray]:
        """Per device, for each metric: level fraction and trend per day (peer model)."""
        devices = sorted(self.open)
        row = {d: i for i, d in enumerate(devices)}
        X = np.zeros((len(devices), 2 * len(self.blocks)))
        for j, metric in enumerate(sorted(self.blocks)):
            block, slots = self.blocks[metric], self.slots[metric]
            rows = np.array([row[d] for d in slots], dtype=np.int64)
            at = np.fromiter(slots.values(), dtype=np.int64, count=len(slots))
            X[rows, 2 * j] = block.level_frac[at]
            X[rows, 2 * j + 1] = block.room_frac_per_day()[at]
        return devices, X


class _Group:
    """One batch's values for one block: (row, ts, value, reading order tag) each."""

    __slots__ = ("fleet", "metric", "block", "entries", "rows", "ts", "xs", "tags")

    def __init__(self, fleet: ModelStreams, metric: str, block: StreamBlock) -> None:
        self.fleet, self.metric, self.block = fleet, metric, block
        self.entries: list[tuple[int, float, float, int]] = []

    def freeze(self) -> None:
        table = np.array(self.entries, dtype=np.float64)
        self.rows = table[:, 0].astype(np.int64)
        self.ts, self.xs, self.tags = table[:, 1], table[:, 2], table[:, 3]


class DetectorBank:
    """Streaming detection for a fleet, keyed by (device, metric).

    ``directory(device_id)`` names the product model (None = unknown device, ignored).
    Thread-safe: ``update``, ``explain`` and ``save`` may be called from different threads.
    """

    def __init__(
        self,
        profiles: dict[str, DeviceProfile],
        directory: Callable[[str], str | None],
        config: BankConfig | None = None,
    ) -> None:
        self.profiles = profiles
        self.directory = directory
        self.config = config or BankConfig()
        self.models: dict[str, ModelStreams] = {}
        self._device_model: dict[str, ModelStreams] = {}
        self._routes: dict[str, dict[str, Any]] = {}  # device -> metric -> (block, row)
        self._unknown: dict[str, float] = {}
        self.peers = FleetPeerModel(self.config.peers)
        self._lock = threading.RLock()
        self.labels_applied = 0  # id of the last labelled false positive learnt from

    def update(self, readings: Sequence[Reading]) -> list[AnomalyEvent]:
        """Feed readings (oldest first); return anomaly and recovery events."""
        with self._lock:
            groups = self._group(readings)
            events: list[AnomalyEvent] = []
            for round_groups in _rounds(groups):
                self._run_round(round_groups, events)
            if readings:
                self.peers.maybe_refit(readings[-1].ts, self._peer_features)
            return events

    def _group(self, readings: Sequence[Reading]) -> list[_Group]:
        groups: dict[int, _Group] = {}
        routes = self._routes
        for i, r in enumerate(readings):
            device_id, ts = r.device_id, r.ts
            route = routes.get(device_id)
            if route is None:
                if self._register(device_id, ts) is None:
                    continue
                route = routes[device_id] = {}
            for j, (metric, value) in enumerate(r.metrics.items()):
                target = route.get(metric)
                if target is None:
                    target = route[metric] = self._route(device_id, metric, groups)
                if target is not None:
                    key, row = target
                    group = groups.get(key) or self._open_group(device_id, metric, groups)
                    group.entries.append((row, ts, value, i * 256 + j))
        for group in groups.values():
            group.freeze()
        return list(groups.values())

    def _route(self, device_id: str, metric: str, groups: dict[int, _Group]) -> Any:
        fleet = self._device_model[device_id]
        block = fleet.block(metric)
        return None if block is None else (id(block), fleet.slot(metric, device_id))

    def _open_group(self, device_id: str, metric: str, groups: dict[int, _Group]) -> _Group:
        fleet = self._device_model[device_id]
        block = fleet.blocks[metric]
        group = groups[id(block)] = _Group(fleet, metric, block)
        return group

    def _run_round(
        self, groups: list[tuple[_Group, np.ndarray]], events: list[AnomalyEvent]
    ) -> None:
        fired: list[tuple[float, str, str, str, float]] = []
        for group, sel in groups:
            ts = group.ts[sel]
            edges = group.block.update(group.rows[sel], ts, group.xs[sel])
            if not edges.any():
                continue
            names = group.fleet.names[group.metric]
            for k in np.flatnonzero(edges).tolist():
                kind = "anomaly" if edges[k] == ANOMALY else "recovery"
                at = int(sel[k])
                device_id = names[int(group.rows[at])]
                fired.append((float(group.tags[at]), device_id, group.metric, kind, float(ts[k])))
        for _, device_id, metric, kind, ts_ in sorted(fired):
            self._on_edge(device_id, self._device_model[device_id], metric, kind, ts_, events)

    def _register(self, device_id: str, ts: float) -> ModelStreams | None:
        known = self._device_model.get(device_id)
        if known is not None:
            return known
        asked = self._unknown.get(device_id)
        if asked is not None and ts - asked < UNKNOWN_RECHECK_S:
            return None
        model = self.directory(device_id)
        profile = self.profiles.get(model) if model else None
        if model is None or profile is None:
            self._unknown[device_id] = ts
            return None
        self._unknown.pop(device_id, None)
        fleet = self.models.get(model)
        if fleet is None:
            fleet = self.models[model] = ModelStreams(model, profile, self.config.stream)
        fleet.open.setdefault(device_id, {})
        self._device_model[device_id] = fleet
        return fleet

    def _on_edge(
        self, device_id: str, fleet: ModelStreams, metric: str, edge: str, ts: float,
        events: list[AnomalyEvent],
    ) -> None:  # fmt: skip
        opened = fleet.open[device_id]
        if edge == "anomaly":
            mode = attribute(fleet.profile, fleet.fracs(device_id), metric)
            if mode in opened:
                opened[mode].metrics.add(metric)
                return
            opened[mode] = _Open(ts, {metric})
            events.append(self._event(device_id, fleet, metric, mode, "anomaly", ts, ts))
            return
        for mode, op in list(opened.items()):
            if metric in op.metrics:
                op.metrics.discard(metric)
                if not op.metrics:
                    del opened[mode]
                    events.append(
                        self._event(device_id, fleet, metric, mode, "recovery", ts, op.started_at)
                    )

    def _event(
        self, device_id: str, fleet: ModelStreams, metric: str, mode: str, kind: str,
        ts: float, started_at: float,
    ) -> AnomalyEvent:  # fmt: skip
        block, slot = fleet.blocks[metric], fleet.slots[metric][device_id]
        why = self._explain(device_id, fleet, metric, ts, fired=kind == "anomaly")
        fm = fleet.profile.failure_modes[mode]
        severity = fm.severity
        eta = why.eta_ts
        if kind == "anomaly" and (block.spec.breached(why.observed) or (eta and eta - ts < 86400)):
            severity = bump(severity)
        extra: dict[str, Any] = {
            "level_frac": round(float(block.level_frac[slot]), 4),
            "kb_article": fm.kb_article,
            "skill": fm.skill,
            "peer_score": self.peers.score(device_id),
        }
        return AnomalyEvent(
            device_id=device_id, model=fleet.model, failure_mode=mode, kind=kind,  # type: ignore[arg-type]
            ts=ts, started_at=started_at, severity=severity,  # type: ignore[arg-type]
            score=round(float(block.score[slot]), 4), why=why, extra=extra,
        )  # fmt: skip

    def explain(self, device_id: str, metric: str, ts: float, fired: bool = True) -> Explanation:
        """Numbers behind one metric of one device now (KeyError if never seen)."""
        with self._lock:
            return self._explain(device_id, self._device_model[device_id], metric, ts, fired)

    def _explain(
        self, device_id: str, fleet: ModelStreams, metric: str, ts: float, fired: bool
    ) -> Explanation:
        block, slot = fleet.blocks[metric], fleet.slots[metric][device_id]
        spec, trend = block.spec, block.trend
        expected, observed = block.expected(slot, ts), float(block.smooth[slot])
        eta_value = float(trend.eta[slot])
        eta = eta_value if fired and eta_value == eta_value else None
        detectors = block.fired(slot) if fired else ()
        if fired and self.peers.flagged(device_id):
            detectors = (*detectors, "peers")
        level = trend.level[slot]
        per_day = float(trend.rate[slot]) if level == level else None
        return Explanation(
            metric=metric, unit=spec.unit, expected=expected, observed=observed,
            trend_per_day=per_day, limit=spec.limit, eta_ts=eta, detectors=detectors,
            text=describe(metric, spec, expected, observed, per_day, eta, ts),
        )  # fmt: skip

    def _peer_features(self) -> list[tuple[list[str], np.ndarray]]:
        return [fleet.features() for fleet in self.models.values()]

    def apply_labels(self, labels: Sequence[dict[str, Any]]) -> int:
        """Learn from labelled false positives (``tickets.feedback.false_positives``).

        Each label with an id above ``labels_applied`` makes the metrics of its failure
        mode on its device accept their current level as normal, so the same benign
        change does not raise the same alarm again. Returns how many were applied.
        """
        applied = 0
        with self._lock:
            for label in labels:
                if int(label["id"]) <= self.labels_applied:
                    continue
                self.labels_applied = int(label["id"])
                applied += self._accept(str(label["device_id"]), str(label["failure_mode"]))
        return applied

    def _accept(self, device_id: str, mode: str) -> int:
        fleet = self._device_model.get(device_id)
        if fleet is None or mode not in fleet.profile.failure_modes:
            return 0
        fm = fleet.profile.failure_modes[mode]
        for metric in fm.effects or {fm.metric: 1.0}:
            row = fleet.slots.get(metric, {}).get(device_id)
            if row is not None:
                fleet.blocks[metric].accept(np.array([row], dtype=np.int64))
        return 1

    def device_count(self) -> int:
        """Devices with detector state."""
        return len(self._device_model)

    def open_anomalies(self) -> dict[tuple[str, str], float]:
        """(device, failure mode) -> started_at for every anomaly not yet recovered."""
        with self._lock:
            return {(d, m): op.started_at for fleet in self.models.values()
                    for d, opened in fleet.open.items() for m, op in opened.items()}  # fmt: skip

    def save(self, path: str | Path) -> None:
        """Write a checkpoint atomically; the state is copied under the lock first."""
        with self._lock:
            header, arrays = _snapshot(self)
        write_checkpoint(Path(path), header, arrays)

    @classmethod
    def load(
        cls,
        path: str | Path,
        profiles: dict[str, DeviceProfile],
        directory: Callable[[str], str | None],
    ) -> DetectorBank:
        """Rebuild a bank from ``save()``; models whose profile is gone are dropped."""
        header, arrays = read_checkpoint(Path(path))
        bank = cls(profiles, directory, BankConfig.from_dict(header["config"]))
        for model, info in header["models"].items():
            if model in profiles:
                _restore(bank, model, info, arrays)
        bank.peers.load_state_dict(header["peers"])
        bank.labels_applied = int(header.get("labels_applied", 0))
        return bank


def _rounds(groups: list[_Group]) -> list[list[tuple[_Group, np.ndarray]]]:
    """Split each group so that no row appears twice in one round (in order)."""
    rounds: list[list[tuple[_Group, np.ndarray]]] = []
    for group in groups:
        rows = np.asarray(group.rows, dtype=np.int64)
        if len(np.unique(rows)) == len(rows):
            ranks = [np.arange(len(rows))]
        else:
            order = np.argsort(rows, kind="stable")
            sorted_rows = rows[order]
            first = np.r_[True, sorted_rows[1:] != sorted_rows[:-1]]
            run_start = np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))
            rank = np.empty(len(rows), dtype=np.int64)
            rank[order] = np.arange(len(rows)) - run_start
            ranks = [np.flatnonzero(rank == r) for r in range(int(rank.max()) + 1)]
        for r, sel in enumerate(ranks):
            if len(rounds) <= r:
                rounds.append([])
            rounds[r].append((group, sel))
    return rounds


def _snapshot(bank: DetectorBank) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    models: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, fleet in bank.models.items():
        models[name] = {
            "slots": {m: list(slots) for m, slots in fleet.slots.items()},
            "open": {d: {m: [op.started_at, sorted(op.metrics)] for m, op in opened.items()}
                     for d, opened in fleet.open.items()},
        }  # fmt: skip
        for metric, block in fleet.blocks.items():
            for key, value in block.state_dict().items():
                arrays[f"{name}/{metric}/{key}"] = value.copy()
    header = {"config": bank.config.to_dict(), "models": models,
              "peers": bank.peers.state_dict(), "labels_applied": bank.labels_applied}  # fmt: skip
    return header, arrays


def _restore(bank: DetectorBank, model: str, info: dict[str, Any], arrays: Any) -> None:
    fleet = ModelStreams(model, bank.profiles[model], bank.config.stream)
    bank.models[model] = fleet
    for device_id, opened in info["open"].items():
        fleet.open[device_id] = {m: _Open(float(t), set(ms)) for m, (t, ms) in opened.items()}
        bank._device_model[device_id] = fleet
    for metric, devices in info["slots"].items():
        block = fleet.block(metric)
        if block is None:
            continue
        prefix = f"{model}/{metric}/"
        block.load_state_dict({k[len(prefix) :]: arrays[k] for k in arrays if k.startswith(prefix)})
        fleet.slots[metric] = {d: i for i, d in enumerate(devices)}
        fleet.names[metric] = list(devices)
