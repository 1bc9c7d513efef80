"""The vectorised StreamBlock computes exactly what the scalar MetricStream computes.

MetricStream is the readable reference (one stream, one value at a time); the bank runs
StreamBlock over every device of a batch. Both see the same simulated fleet (failures,
benign changes, dropouts, the daily cycle) and must agree on every number and edge.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from anomaly.bank import DetectorBank
from anomaly.block import ANOMALY, RECOVERY, StreamBlock
from anomaly.evaluate import START_TS
from anomaly.profiles import load_profiles
from anomaly.stream import MetricStream, StreamConfig
from ingest.base import Reading
from simulator.fleet import Fleet

PROFILES = load_profiles()
CFG = StreamConfig()
EDGE = {ANOMALY: "anomaly", RECOVERY: "recovery"}


def _same(a: float | None, b: float) -> bool:
    a = math.nan if a is None else a
    return (math.isnan(a) and math.isnan(b)) or a == b


def _compare(stream: MetricStream, block: StreamBlock, row: int) -> list[str]:
    checks = {
        "score": (stream.score, block.score[row]),
        "level_frac": (stream.level_frac, block.level_frac[row]),
        "out": (stream.out, block.out[row]),
        "spikes": (stream.spikes, block.spikes[row]),
        "smooth": (stream.smooth, block.smooth[row]),
        "cusum.up": (stream.cusum._up, block.cusum.up[row]),
        "cusum.down": (stream.cusum._down, block.cusum.down[row]),
        "cusum.level": (stream.cusum.reference._level, block.cusum.level[row]),
        "trend.t": (stream.trend._t, block.trend.t[row]),
        "trend.eta": (stream.trend.eta_ts, block.trend.eta[row]),
        "trend.rate": (stream.trend.rate_per_day, block.trend.rate[row]),
        "alarm.active": (float(stream.alarm.active), float(block.active[row])),
    }
    return [name for name, (a, b) in checks.items() if not _same(a, float(b))]


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(18, 5, 0.5, START_TS, 16.0, 600.0, benign_rate=0.4)


def test_block_matches_metric_stream_value_for_value(fleet: Fleet) -> None:
    models = {d.device_id: d.model for d in fleet.devices}
    streams: dict[tuple[str, str], MetricStream] = {}
    blocks: dict[tuple[str, str], StreamBlock] = {}
    rows: dict[tuple[str, str], int] = {}
    edges: dict[str, list[tuple[float, str, str, str]]] = {"scalar": [], "block": []}
    for _, readings in fleet.ticks():
        groups: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
        for r in readings:
            for metric, x in r.metrics.items():
                key = (models[r.device_id], metric)
                spec = PROFILES[key[0]].metrics[metric]
                block = blocks.setdefault(key, StreamBlock(spec, CFG))
                if (r.device_id, metric) not in streams:
                    streams[r.device_id, metric] = MetricStream(spec, CFG)
                    rows[r.device_id, metric] = block.add()
                edge = streams[r.device_id, metric].update(r.ts, x)
                if edge:
                    edges["scalar"].append((r.ts, r.device_id, metric, edge))
                groups.setdefault(key, []).append((r.device_id, r.ts, x))
        for key, values in groups.items():
            idx = np.array([rows[d, key[1]] for d, _, _ in values])
            ts = np.array([t for _, t, _ in values])
            out = blocks[key].update(idx, ts, np.array([x for _, _, x in values]))
            for (device, t, _), e in zip(values, out.tolist(), strict=True):
                if e:
                    edges["block"].append((t, device, key[1], EDGE[e]))
                wrong = _compare(streams[device, key[1]], blocks[key], rows[device, key[1]])
                assert not wrong, f"{device} {key[1]} at {t}: {wrong} differ"
    assert edges["block"] == edges["scalar"]
    assert edges["scalar"], "the fleet's failures raise alarms"


def test_outages_longer_than_the_window_and_a_passing_fault_match() -> None:
    spec = PROFILES["aircon-x1"].metrics["filter_dp_pa"]
    stream, block = MetricStream(spec, CFG), StreamBlock(spec, CFG)
    row, ts, seen = block.add(), START_TS, []
    for i in range(3000):
        ts += 600.0 if i % 700 else 86400.0 * (4 if i % 1400 else 1.3)  # outages
        fault = 100.0 if 1000 <= i < 1060 else 0.0  # 10 h past the limit, then gone
        x = 60.0 + 0.002 * i + math.sin(i / 9.0) + fault
        edge = stream.update(ts, x)
        out = block.update(np.array([row]), np.array([ts]), np.array([x]))
        assert EDGE.get(int(out[0])) == edge, i
        assert not _compare(stream, block, row), i
        seen += [edge] if edge else []
    assert seen == ["anomaly", "recovery"]


def _bank_events(batches: list[list[Reading]], models: dict[str, str]) -> list[dict]:
    bank = DetectorBank(PROFILES, models.get)
    return [e.to_dict() for batch in batches for e in bank.update(batch)]


def test_a_device_twice_in_one_batch_is_handled_in_order(fleet: Fleet) -> None:
    models = {d.device_id: d.model for d in fleet.devices}
    ticks = [readings for _, readings in fleet.ticks()][: 10 * 144]
    one_by_one = _bank_events(ticks, models)
    two_ticks = [ticks[i] + ticks[i + 1] for i in range(0, len(ticks) - 1, 2)]
    if len(ticks) % 2:
        two_ticks.append(ticks[-1])
    assert _bank_events(two_ticks, models) == one_by_one
    assert one_by_one, "the fleet has failures to detect"
