"""DetectorBank on a small synthetic air-conditioner fleet with one known failure."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from anomaly.bank import BankConfig, DetectorBank
from anomaly.stream import StreamConfig
from core.profiles import load_profiles
from core.readings import Reading
from tests.anomaly.series import DAY_POINTS, STEP, T0

PROFILES = load_profiles()
AC = PROFILES["aircon-x1"]
FAIL_AT, FAIL_DAYS = 8 * DAY_POINTS, 6.0  # filter clogs from day 8, limit on day 14


def _value(name: str, i: int, rng: random.Random, severity: float) -> float:
    spec = AC.metrics[name]
    mid = sum(spec.normal) / 2
    effect = AC.failure_modes["filter_clog"].effects.get(name, 0.0)
    ts = T0 + STEP * i
    cycle = spec.daily_amplitude * math.sin(2 * math.pi * ts / 86400)
    return mid + cycle + rng.gauss(0, spec.noise) + severity * effect * (spec.limit - mid)


def fleet_ticks(n_devices: int, days: float, failing: str | None = "ac-0"):
    """Per tick, readings of every device; ``failing`` gets a linear filter clog."""
    rngs = {f"ac-{d}": random.Random(d) for d in range(n_devices)}
    for i in range(int(days * DAY_POINTS)):
        batch = []
        for device, rng in rngs.items():
            sev = max(i - FAIL_AT, 0) / (FAIL_DAYS * DAY_POINTS) if device == failing else 0.0
            metrics = {m: _value(m, i, rng, sev) for m in AC.metrics}
            batch.append(Reading(device, T0 + STEP * i, metrics))
        yield batch


def directory_for(n: int):
    models = {f"ac-{d}": "aircon-x1" for d in range(n)}
    return models.get


def test_one_event_for_the_failing_device_with_mode_and_explanation():
    bank = DetectorBank(PROFILES, directory_for(25))
    events = [e for batch in fleet_ticks(25, 14) for e in bank.update(batch)]
    assert [(e.device_id, e.kind) for e in events] == [("ac-0", "anomaly")]
    e = events[0]
    notice = T0 + STEP * FAIL_AT + FAIL_DAYS * 86400 * (150 - 55 - 6) / 95  # ~limit - cycle
    assert T0 + STEP * FAIL_AT < e.ts < notice, "raised after onset, before the customer notices"
    assert e.failure_mode == "filter_clog"
    assert e.why.metric in {"filter_dp_pa", "cooling_delta_c", "fan_rpm"}
    assert e.why.limit == AC.metrics[e.why.metric].limit
    assert e.why.text and e.why.detectors
    dp = bank.explain("ac-0", "filter_dp_pa", e.ts)
    assert dp.trend_per_day is not None and dp.trend_per_day > 0
    assert bank.open_anomalies() == {("ac-0", "filter_clog"): e.ts}


def test_unknown_devices_are_ignored():
    bank = DetectorBank(PROFILES, directory_for(1))
    stranger = Reading("zz-9", T0, {"filter_dp_pa": 9999.0})
    assert bank.update([stranger] * 50) == []
    assert bank.device_count() == 0


def test_recovery_event_when_the_device_is_healthy_again():
    bank = DetectorBank(PROFILES, directory_for(1))
    rng = random.Random(3)
    events = []
    for i in range(9 * DAY_POINTS):
        sev = 1.6 if 3 * DAY_POINTS <= i < 3 * DAY_POINTS + 60 else 0.0  # 10 h past the limit
        metrics = {m: _value(m, i, rng, sev) for m in AC.metrics}
        events += bank.update([Reading("ac-0", T0 + STEP * i, metrics)])
    kinds = [(e.kind, e.failure_mode) for e in events]
    assert kinds == [("anomaly", "filter_clog"), ("recovery", "filter_clog")]
    assert events[1].started_at == events[0].ts
    assert bank.open_anomalies() == {}


def test_checkpoint_round_trip_continues_exactly(tmp_path):
    ticks = list(fleet_ticks(20, 12))
    split = FAIL_AT  # restart at the onset: detection happens after it
    a = DetectorBank(PROFILES, directory_for(20))
    for batch in ticks[:split]:
        a.update(batch)
    path = tmp_path / "ckpt.json"
    a.save(path)
    b = DetectorBank.load(path, PROFILES, directory_for(20))
    tail_a = [e.to_dict() for batch in ticks[split:] for e in a.update(batch)]
    tail_b = [e.to_dict() for batch in ticks[split:] for e in b.update(batch)]
    assert tail_a == tail_b
    assert tail_a, "the failure is detected after the restart"


def test_checkpoint_version_is_checked(tmp_path):
    import json

    from anomaly.checkpoint import _HEADER

    path = tmp_path / "detectors.ckpt"  # a real checkpoint file whose header says 99
    with path.open("wb") as out:
        np.savez(out, **{_HEADER: np.array(json.dumps({"version": 99}))})
    with pytest.raises(ValueError, match="version"):
        DetectorBank.load(path, PROFILES, directory_for(1))


def test_saving_while_another_thread_updates_gives_whole_checkpoints(tmp_path):
    import threading

    bank = DetectorBank(PROFILES, directory_for(20))
    failures: list[BaseException] = []
    done = threading.Event()
    fed = [0]

    def feed() -> None:
        # Keeps updating until the saver below has taken its checkpoints, so the
        # saves overlap the updates however the two threads are scheduled.
        try:
            for batch in fleet_ticks(20, 365):
                if done.is_set():
                    return
                bank.update(batch)
                fed[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    worker = threading.Thread(target=feed)
    worker.start()
    progress = []
    try:
        for _ in range(5):
            bank.save(tmp_path / "ckpt.npz")
            restored = DetectorBank.load(tmp_path / "ckpt.npz", PROFILES, directory_for(20))
            assert restored.device_count() in (0, 20)
            progress.append(fed[0])
            assert worker.is_alive(), "the feeder ran out before the saves were done"
    finally:
        done.set()
        worker.join()
    assert not failures
    assert progress[-1] > progress[0], "updates went on between the saves"


def test_an_old_json_checkpoint_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "detectors.ckpt"
    path.write_text('{"version": 1, "devices": {}}')
    with pytest.raises(ValueError, match="not a checkpoint of this version"):
        DetectorBank.load(path, PROFILES, directory_for(1))


def _stepped_readings(days: float, step_at: int):
    """One air conditioner whose fan slows by a benign 3% at ``step_at`` (inside normal)."""
    rng = random.Random(11)
    for i in range(int(days * DAY_POINTS)):
        metrics = {m: _value(m, i, rng, 0.0) for m in AC.metrics}
        metrics["fan_rpm"] -= 36.0 if i >= step_at else 0.0
        yield Reading("ac-0", T0 + STEP * i, metrics)


def _sensitive() -> BankConfig:
    """A bank that reads a benign step as a trend (no step veto, no jump reset, no
    measure of the step against the unit's own wander), so there is a false positive to
    label."""
    cfg = StreamConfig(
        t_min=1.0,
        drift_fits=1,
        trend_quantile=0.5,
        step_veto=0.0,
        step_hours=0.0,
        level_wander_z=0.0,
        ramp_wander_z=0.0,
    )
    return BankConfig(cfg)


def test_a_labelled_false_positive_is_accepted_as_the_new_normal():

    def run(label: bool) -> list[tuple[str, float]]:
        bank = DetectorBank(PROFILES, directory_for(1), _sensitive())
        seen: list[tuple[str, float]] = []
        for r in _stepped_readings(12, 5 * DAY_POINTS):
            for e in bank.update([r]):
                seen.append((e.kind, e.ts))
                if label and e.kind == "anomaly":
                    assert bank.accept("ac-0", e.failure_mode)
        return seen

    plain, labelled = run(False), run(True)
    assert plain and plain[0][0] == "anomaly", "the sensitive bank takes the step for a fault"
    assert labelled[0] == plain[0]
    recovered = {
        name: next(ts for kind, ts in seen if kind == "recovery")
        for name, seen in (("plain", plain), ("labelled", labelled))
    }
    assert recovered["labelled"] < recovered["plain"], "the label clears it sooner"
    assert [k for k, _ in labelled].count("anomaly") <= [k for k, _ in plain].count("anomaly")


def test_a_withdrawn_label_restores_the_detector_state_from_before(tmp_path):
    """Finding 6: withdrawing what a label taught puts the detectors back as they were."""
    bank = DetectorBank(PROFILES, directory_for(1))
    for batch in fleet_ticks(1, 2):
        bank.update(batch)
    before = bank.explain("ac-0", "filter_dp_pa", 0.0)
    rows = {m: b.state_dict() for m, b in bank.models["aircon-x1"].blocks.items()}
    undo = bank.accept("ac-0", "filter_clog")
    assert undo and bank.accept("zz-9", "filter_clog") is None
    changed = {m: b.state_dict() for m, b in bank.models["aircon-x1"].blocks.items()}
    assert any(not np.array_equal(rows[m]["F"], changed[m]["F"]) for m in rows)
    bank.restore("ac-0", json.loads(json.dumps(undo)))  # as the case DB stores it
    for metric, block in bank.models["aircon-x1"].blocks.items():
        for name, array in block.state_dict().items():
            assert np.array_equal(array, rows[metric][name], equal_nan=True), (metric, name)
    assert bank.explain("ac-0", "filter_dp_pa", 0.0) == before


def test_the_callers_state_is_saved_with_the_checkpoint(tmp_path):
    bank = DetectorBank(PROFILES, directory_for(1))
    for batch in fleet_ticks(1, 2):
        bank.update(batch)
    bank.save(tmp_path / "ckpt.npz", {"gate": {"ac-0": 123.5}})
    loaded = DetectorBank.load(tmp_path / "ckpt.npz", PROFILES, directory_for(1))
    assert loaded.extra == {"gate": {"ac-0": 123.5}}


def _rewrite(path, change) -> None:
    """Rewrite a checkpoint's header and arrays with ``change(header, arrays)``."""
    import json

    from anomaly.checkpoint import _HEADER

    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data[_HEADER]))
        arrays = {k: data[k] for k in data.files if k != _HEADER}
    change(header, arrays)
    with path.open("wb") as out:
        np.savez(out, **{_HEADER: np.array(json.dumps(header)), **arrays})


def _half_way(tmp_path, n: int = 12):
    ticks = list(fleet_ticks(n, 12))
    bank = DetectorBank(PROFILES, directory_for(n))
    for batch in ticks[: FAIL_AT + 3 * DAY_POINTS]:  # the clog is already open
        bank.update(batch)
    path = tmp_path / "ckpt.npz"
    bank.save(path)
    return bank, ticks[FAIL_AT + 3 * DAY_POINTS :], path


def test_a_checkpoint_names_its_kinds_and_all_come_back(tmp_path):
    bank, rest, path = _half_way(tmp_path)
    restored = DetectorBank.load(path, PROFILES, directory_for(12))
    assert restored.restored_kinds == ["cohort", "stream"]
    assert restored.open_anomalies() == bank.open_anomalies() != {}


def test_a_kind_the_checkpoint_lacks_starts_fresh_beside_the_others(tmp_path):
    bank, rest, path = _half_way(tmp_path)

    def drop_cohort(header, arrays):
        header["kinds"].pop("cohort")
        for key in [k for k in arrays if "/cohort/" in k]:
            del arrays[key]

    _rewrite(path, drop_cohort)
    restored = DetectorBank.load(path, PROFILES, directory_for(12))
    assert restored.restored_kinds == ["stream"]
    block = restored.models["aircon-x1"].blocks["filter_dp_pa"]
    original = bank.models["aircon-x1"].blocks["filter_dp_pa"]
    assert np.array_equal(block.F[: block.size], original.F[: original.size], equal_nan=True)
    assert restored.open_anomalies() == bank.open_anomalies()
    events = [e for batch in rest for e in restored.update(batch)]
    assert {e.device_id for e in events} <= {"ac-0"}, "fresh cohort rows raise nothing"


def test_an_older_detector_version_keeps_the_devices_and_open_anomalies(tmp_path):
    bank, rest, path = _half_way(tmp_path)
    _rewrite(path, lambda header, arrays: header["kinds"].update(stream=1))
    restored = DetectorBank.load(path, PROFILES, directory_for(12))
    assert restored.restored_kinds == ["cohort"]
    assert restored.device_count() == bank.device_count() == 12
    assert restored.open_anomalies() == bank.open_anomalies() != {}
    assert restored.models["aircon-x1"].blocks["filter_dp_pa"].IX[:12, 0].max() == 0, (
        "the stream kind re-learns from its first value"
    )


def test_a_cohort_filter_of_version_1_starts_fresh_and_the_bank_runs_on(tmp_path):
    bank, rest, path = _half_way(tmp_path)

    def version_1(header, arrays):  # one cohort per row then, no parent
        header["kinds"]["cohort"] = 1
        for key in [k for k in arrays if k.endswith("/cohort/cohort")]:
            arrays[key] = arrays[key][:, 0].copy()

    _rewrite(path, version_1)
    restored = DetectorBank.load(path, PROFILES, directory_for(12))
    assert restored.restored_kinds == ["stream"]
    assert restored.open_anomalies() == bank.open_anomalies() != {}
    events = [e for batch in rest for e in restored.update(batch)]
    assert {e.device_id for e in events} <= {"ac-0"}
