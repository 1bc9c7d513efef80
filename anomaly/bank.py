"""DetectorBank: every (device, metric) stream, the fleet peer model, and the events.

``update(readings)`` routes each value to its stream, turns alarm edges into
``AnomalyEvent``s with a suspected failure mode and an explanation, and keeps one open
anomaly per (device, failure mode) until every metric that raised it has recovered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from anomaly.attribution import attribute, bump, describe
from anomaly.base import AnomalyEvent, Explanation
from anomaly.peers import FleetPeerModel, PeerConfig
from anomaly.profiles import DeviceProfile
from anomaly.stream import MetricStream, StreamConfig
from ingest.base import Reading

CHECKPOINT_VERSION = 1
UNKNOWN_RECHECK_S = 300.0  # ask the directory again about an unknown device after this


@dataclass(frozen=True, slots=True)
class BankConfig:
    """Stream hyper-parameters and fleet peer-model settings."""

    stream: StreamConfig = field(default_factory=StreamConfig)
    peers: PeerConfig = field(default_factory=PeerConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BankConfig:
        return cls(StreamConfig(**data["stream"]), PeerConfig(**data["peers"]))


@dataclass(slots=True)
class _Open:
    started_at: float
    metrics: set[str]


class _Device:
    __slots__ = ("model", "profile", "streams", "open")

    def __init__(self, model: str, profile: DeviceProfile) -> None:
        self.model = model
        self.profile = profile
        self.streams: dict[str, MetricStream] = {}
        self.open: dict[str, _Open] = {}

    def fracs(self) -> dict[str, float]:
        return {m: s.level_frac for m, s in self.streams.items()}


class DetectorBank:
    """Streaming detection for a fleet, keyed by (device, metric).

    ``directory(device_id)`` names the product model (None = unknown device, ignored).
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
        self._devices: dict[str, _Device] = {}
        self._unknown: dict[str, float] = {}
        self.peers = FleetPeerModel(self.config.peers)

    def update(self, readings: Sequence[Reading]) -> list[AnomalyEvent]:
        """Feed readings (oldest first); return anomaly and recovery events."""
        events: list[AnomalyEvent] = []
        devices, cfg = self._devices, self.config.stream
        for r in readings:
            dev = devices.get(r.device_id) or self._register(r.device_id, r.ts)
            if dev is None:
                continue
            streams, ts = dev.streams, r.ts
            for metric, value in r.metrics.items():
                st = streams.get(metric)
                if st is None:
                    spec = dev.profile.metrics.get(metric)
                    if spec is None:
                        continue
                    st = streams[metric] = MetricStream(spec, cfg)
                edge = st.update(ts, value)
                if edge is not None:
                    self._on_edge(r.device_id, dev, metric, edge, ts, events)
        if readings:
            self.peers.maybe_refit(readings[-1].ts, self._devices)
        return events

    def _register(self, device_id: str, ts: float) -> _Device | None:
        asked = self._unknown.get(device_id)
        if asked is not None and ts - asked < UNKNOWN_RECHECK_S:
            return None
        model = self.directory(device_id)
        profile = self.profiles.get(model) if model else None
        if model is None or profile is None:
            self._unknown[device_id] = ts
            return None
        self._unknown.pop(device_id, None)
        dev = self._devices[device_id] = _Device(model, profile)
        return dev

    def _on_edge(
        self, device_id: str, dev: _Device, metric: str, edge: str, ts: float,
        events: list[AnomalyEvent],
    ) -> None:  # fmt: skip
        if edge == "anomaly":
            mode = attribute(dev.profile, dev.fracs(), metric)
            if mode in dev.open:
                dev.open[mode].metrics.add(metric)
                return
            dev.open[mode] = _Open(ts, {metric})
            events.append(self._event(device_id, dev, metric, mode, "anomaly", ts, ts))
            return
        for mode, op in list(dev.open.items()):
            if metric in op.metrics:
                op.metrics.discard(metric)
                if not op.metrics:
                    del dev.open[mode]
                    events.append(
                        self._event(device_id, dev, metric, mode, "recovery", ts, op.started_at)
                    )

    def _event(
        self, device_id: str, dev: _Device, metric: str, mode: str, kind: str, ts: float,
        started_at: float,
    ) -> AnomalyEvent:  # fmt: skip
        st = dev.streams[metric]
        why = self.explain(device_id, metric, ts, fired=kind == "anomaly")
        fm = dev.profile.failure_modes[mode]
        severity = fm.severity
        eta = why.eta_ts
        if kind == "anomaly" and (st.spec.breached(why.observed) or (eta and eta - ts < 86400)):
            severity = bump(severity)
        extra: dict[str, Any] = {
            "level_frac": round(st.level_frac, 4),
            "kb_article": fm.kb_article,
            "skill": fm.skill,
            "peer_score": self.peers.score(device_id),
        }
        return AnomalyEvent(
            device_id=device_id, model=dev.model, failure_mode=mode, kind=kind,  # type: ignore[arg-type]
            ts=ts, started_at=started_at, severity=severity, score=round(st.score, 4), why=why,
            extra=extra,
        )  # fmt: skip

    def explain(self, device_id: str, metric: str, ts: float, fired: bool = True) -> Explanation:
        """Numbers behind one metric of one device now (KeyError if never seen)."""
        st = self._devices[device_id].streams[metric]
        spec, trend = st.spec, st.trend
        expected, observed = st.expected(ts), st.smooth
        eta = trend.eta_ts if fired else None
        detectors = st.fired() if fired else ()
        if fired and self.peers.flagged(device_id):
            detectors = (*detectors, "peers")
        per_day = trend.rate_per_day if trend.level == trend.level else None
        return Explanation(
            metric=metric, unit=spec.unit, expected=expected, observed=observed,
            trend_per_day=per_day, limit=spec.limit, eta_ts=eta, detectors=detectors,
            text=describe(metric, spec, expected, observed, per_day, eta, ts),
        )  # fmt: skip

    def device_count(self) -> int:
        """Devices with detector state."""
        return len(self._devices)

    def open_anomalies(self) -> dict[tuple[str, str], float]:
        """(device, failure mode) -> started_at for every anomaly not yet recovered."""
        return {(d, m): op.started_at for d, dev in self._devices.items()
                for m, op in dev.open.items()}  # fmt: skip

    def save(self, path: str | Path) -> None:
        """Write a checkpoint (JSON), atomically: a crash leaves the old one intact."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": CHECKPOINT_VERSION, "config": _config_dict(self.config),
                "devices": {d: _device_state(dev) for d, dev in self._devices.items()},
                "peers": self.peers.state_dict()}  # fmt: skip
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(orjson.dumps(data))
        os.replace(tmp, path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        profiles: dict[str, DeviceProfile],
        directory: Callable[[str], str | None],
    ) -> DetectorBank:
        """Rebuild a bank from ``save()``; devices whose model is gone are dropped."""
        data = orjson.loads(Path(path).read_bytes())
        if data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{path}: checkpoint version {data.get('version')!r} not supported")
        bank = cls(profiles, directory, BankConfig.from_dict(data["config"]))
        for device_id, st in data["devices"].items():
            profile = profiles.get(st["model"])
            if profile is not None:
                bank._devices[device_id] = _load_device(st, profile, bank.config.stream)
        bank.peers.load_state_dict(data["peers"])
        return bank


def _config_dict(cfg: BankConfig) -> dict[str, Any]:
    return {"stream": cfg.stream.to_dict(), "peers": cfg.peers.to_dict()}


def _device_state(dev: _Device) -> dict[str, Any]:
    return {
        "model": dev.model,
        "streams": {m: s.state_dict() for m, s in dev.streams.items()},
        "open": {m: [op.started_at, sorted(op.metrics)] for m, op in dev.open.items()},
    }


def _load_device(st: dict[str, Any], profile: DeviceProfile, cfg: StreamConfig) -> _Device:
    dev = _Device(st["model"], profile)
    for metric, state in st["streams"].items():
        spec = profile.metrics.get(metric)
        if spec is not None:
            dev.streams[metric] = stream = MetricStream(spec, cfg)
            stream.load_state_dict(state)
    dev.open = {m: _Open(float(t), set(ms)) for m, (t, ms) in st["open"].items()}
    return dev
