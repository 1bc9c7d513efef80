"""The fleet's data: deterministic, shaped like a real fleet, and true to its ground truth."""

from __future__ import annotations

import re

import numpy as np
import orjson
import pytest

from simulator.customers import Customer, default_contacts
from simulator.fleet import Fleet
from tests.simulator.conftest import START


def _dump(fleet: Fleet) -> bytes:
    return orjson.dumps(
        [(ts, [(r.device_id, r.ts, r.metrics) for r in rs]) for ts, rs in fleet.ticks()]
    )


def test_same_seed_gives_byte_identical_output() -> None:
    a = Fleet(30, seed=9, failure_rate=0.3, start_ts=START, days=3)
    b = Fleet(30, seed=9, failure_rate=0.3, start_ts=START, days=3)
    assert _dump(a) == _dump(b) == _dump(a)
    assert a.truth() == b.truth()
    assert a.manifest() == b.manifest()


def test_another_seed_gives_other_data() -> None:
    a = Fleet(30, seed=9, failure_rate=0.3, start_ts=START, days=3)
    b = Fleet(30, seed=10, failure_rate=0.3, start_ts=START, days=3)
    assert _dump(a) != _dump(b)


def test_ticks_are_in_time_order_on_the_step_grid(fleet: Fleet) -> None:
    stamps = [ts for ts, _ in fleet.ticks()]
    assert stamps == [START + k * 600.0 for k in range(20 * 144)]
    _, first = next(iter(fleet.ticks()))
    assert {r.ts for r in first} == {START}


def test_device_ids_and_model_mix(fleet: Fleet) -> None:
    prefixes = {"aircon-x1": "ac", "waterheater-w2": "wh", "pump-p3": "pump"}
    for number, device in enumerate(fleet.devices, start=1):
        assert device.device_id == f"{prefixes[device.model]}-{number:05d}"
    counts = {m: sum(d.model == m for d in fleet.devices) for m in prefixes}
    assert min(counts.values()) >= 25


def test_readings_carry_the_profile_metrics_inside_valid_ranges(fleet: Fleet) -> None:
    models = {d.device_id: d.model for d in fleet.devices}
    for _, readings in fleet.ticks():
        for r in readings:
            profile = fleet.profiles[models[r.device_id]]
            assert set(r.metrics) <= set(profile.metrics)
            for name, value in r.metrics.items():
                lo, hi = profile.metrics[name].valid or (-np.inf, np.inf)
                assert lo <= value <= hi


def test_dropouts_missing_readings_metrics_and_outages(fleet: Fleet) -> None:
    seen: dict[str, list[float]] = {d.device_id: [] for d in fleet.devices}
    partial = total = 0
    for _, readings in fleet.ticks():
        for r in readings:
            seen[r.device_id].append(r.ts)
            total += 1
            partial += len(r.metrics) < len(fleet.profiles[_model(fleet, r.device_id)].metrics)
    assert 0.95 * fleet.readings_count < total < 0.995 * fleet.readings_count
    assert partial > 0
    longest_gap = max(float(np.diff(ts).max()) for ts in seen.values())
    assert longest_gap >= 3600.0  # some device was offline for an hour or more


def _model(fleet: Fleet, device_id: str) -> str:
    return next(d.model for d in fleet.devices if d.device_id == device_id)


def test_notice_is_the_first_underlying_crossing_of_the_limit(failing_fleet: Fleet) -> None:
    truths = failing_fleet.truth()
    assert len(truths) == len(failing_fleet.devices)
    assert sum(t.notice_ts is not None for t in truths) >= 0.8 * len(truths)
    for t in truths:
        spec = failing_fleet.profiles[t.model].metrics[t.metric]
        ts, values = failing_fleet.underlying(t.device_id, t.metric)
        crossed = np.array([spec.breached(v) for v in values])
        if t.notice_ts is None:
            assert not crossed.any()
            continue
        k = int(np.searchsorted(ts, t.notice_ts))
        assert crossed[k] and not crossed[:k].any()
        assert t.onset_ts < t.notice_ts


def test_healthy_and_benign_devices_never_reach_a_limit(fleet: Fleet) -> None:
    benign = [d for d in fleet.devices if d.failure is None and d.benign]
    healthy = [d for d in fleet.devices if d.failure is None]
    assert len(benign) >= 10
    for device in healthy:
        for name, spec in fleet.profiles[device.model].metrics.items():
            _, values = fleet.underlying(device.device_id, name)
            assert not any(spec.breached(v) for v in values), (device.device_id, name)


def test_benign_changes_move_a_level_but_stay_in_the_normal_range(fleet: Fleet) -> None:
    kinds = set()
    for device in (d for d in fleet.devices if d.benign and d.failure is None):
        for change in device.benign:
            kinds.add(change.kind)
            lo, hi = fleet.profiles[device.model].metrics[change.metric].normal
            assert abs(change.shift) >= 0.15 * (hi - lo)
            ts, values = fleet.underlying(device.device_id, change.metric)
            before = values[ts < change.start_ts]
            after = values[ts >= change.end_ts]
            if len(before) >= 144 and len(after) >= 144:
                moved = after[-144:].mean() - before[:144].mean()
                assert np.sign(moved) == np.sign(change.shift)
    assert kinds == {"relocation", "firmware", "seasonal"}


def test_emitted_values_agree_with_the_truth(failing_fleet: Fleet) -> None:
    gradual = [
        (t, t.notice_ts) for t in failing_fleet.truth() if t.kind == "gradual" and t.notice_ts
    ][:20]
    series = _emitted(failing_fleet, {t.device_id for t, _ in gradual})
    for t, notice in gradual:
        spec = failing_fleet.profiles[t.model].metrics[t.metric]
        points = series[t.device_id]
        early = [m[t.metric] for ts, m in points if ts < t.onset_ts - 6 * 3600 and t.metric in m]
        late = [m[t.metric] for ts, m in points if notice + 6 * 3600 < ts and t.metric in m]
        assert not any(spec.breached(v) for v in early[-144:])
        if len(late) >= 12:
            assert spec.breached(float(np.median(late)))


def _emitted(fleet: Fleet, ids: set[str]) -> dict[str, list[tuple[float, dict[str, float]]]]:
    out: dict[str, list[tuple[float, dict[str, float]]]] = {i: [] for i in ids}
    for ts, readings in fleet.ticks():
        for r in readings:
            if r.device_id in ids:
                out[r.device_id].append((ts, dict(r.metrics)))
    return out


def test_manifest_format(fleet: Fleet) -> None:
    from zoneinfo import ZoneInfo

    manifest = orjson.loads(orjson.dumps(fleet.manifest()))
    customers = {c["id"]: c for c in manifest["customers"]}
    assert {c["locale"] for c in customers.values()} == {"ja", "en"}
    for c in customers.values():
        assert re.fullmatch(r"c-\d{4,}", c["id"]) and c["name"]
        ZoneInfo(c["timezone"])
        assert len(c["quiet_hours"]) == 2 and all(0 <= h < 24 for h in c["quiet_hours"])
        assert c["contacts"] and all(p["url"].startswith("mailto://") for p in c["contacts"])
    devices = manifest["devices"]
    assert [d["id"] for d in devices] == [d.device_id for d in fleet.devices]
    assert all(d["customer_id"] in customers and d["model"] in fleet.profiles for d in devices)
    assert {d["customer_id"] for d in devices} == set(customers)


def test_callers_choose_the_contacts(fleet: Fleet) -> None:
    from simulator.customers import Contact

    routed = fleet.with_contacts(lambda c: [Contact("email", f"mailto://localhost:2525?to={c.id}")])
    urls = [p["url"] for c in routed.manifest()["customers"] for p in c["contacts"]]
    assert all(u.startswith("mailto://localhost:2525?to=c-") for u in urls)
    assert fleet.manifest()["customers"][0]["contacts"][0]["url"].endswith("@example.com")


def test_contact_factory_at_construction_changes_contacts_only() -> None:
    from simulator.customers import Contact

    def two_ways(customer: Customer) -> list[Contact]:
        return [Contact("sms", f"json://127.0.0.1:9/{customer.id}"), *default_contacts(customer)]

    plain = Fleet(20, seed=2, failure_rate=0.2, start_ts=START, days=1)
    routed = Fleet(20, seed=2, failure_rate=0.2, start_ts=START, days=1, contact_factory=two_ways)
    for a, b in zip(plain.manifest()["customers"], routed.manifest()["customers"], strict=True):
        assert [p["channel"] for p in b["contacts"]] == ["sms", "email"]
        assert b["contacts"][1] == a["contacts"][0] and b["name"] == a["name"]
    assert _dump(plain) == _dump(routed) and plain.truth() == routed.truth()


def test_demo_fleet_degrades_a_few_devices_before_the_end() -> None:
    end = START + 10 * 86400
    demo = Fleet.demo(end_ts=end)
    truths = demo.truth()
    assert 4 <= len(truths) <= 6
    assert len({t.failure_mode for t in truths}) == len(truths)
    assert len(demo.devices) == 50 and demo.end_ts <= end + 600
    for t in truths:
        assert t.notice_ts is not None and t.notice_ts - t.onset_ts >= 3 * 86400
        assert end - 2 * 86400 < t.notice_ts < end


def test_a_fleet_can_draw_one_kind_of_benign_change_for_every_device() -> None:
    # the stress fleet behind `kizuki evaluate --benign firmware --benign-rate 1`: every
    # device gets a firmware update, and nothing else is drawn differently
    from simulator.confounders import Confounders
    from simulator.offline import rebuild_fleet

    on = Confounders.parse("all")
    fleet = Fleet(40, 4, 0.2, START, 3, confounders=on, benign_rate=1.0, benign_kinds=["firmware"])
    changes = {b.device_id: b.kind for b in fleet.benign() if b.kind in ("firmware", "relocation")}
    assert set(changes.values()) == {"firmware"} and len(changes) == 40
    assert fleet.parameters()["benign_kinds"] == ["firmware"]
    assert rebuild_fleet(fleet.parameters()).benign() == fleet.benign()
    mixed = Fleet(40, 4, 0.2, START, 3, confounders=on, benign_rate=1.0)
    faults = [
        [(t.device_id, t.failure_mode, t.onset_ts) for t in f.truth()] for f in (mixed, fleet)
    ]
    assert faults[0] == faults[1] != [], "the same devices fail the same way, from the same time"
    with pytest.raises(ValueError, match="unknown benign kind reflash: choose from relocation"):
        Fleet(4, 4, 0.2, START, 1, benign_kinds=["reflash"])
    with pytest.raises(ValueError, match="replacement, recalibration need the replacement"):
        Fleet(4, 4, 0.2, START, 1, benign_kinds=["replacement"])
