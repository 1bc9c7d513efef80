"""Which failure mode explains the metrics that moved, and how to say why in one line."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from core.events import SEVERITIES
from core.profiles import DeviceProfile, MetricSpec


def attribute(
    profile: DeviceProfile,
    fracs: Mapping[str, float],
    metric: str,
    skip: frozenset[str] = frozenset(),
) -> str:
    """The failure mode whose ``effects`` best fit the observed moves.

    ``fracs`` holds, per metric, how far it moved toward its limit as a fraction of
    the distance from its healthy reference to the limit (negative = away). Each mode
    is fitted as ``a * effects`` (``a >= 0``); the smallest squared error wins, and
    ties go to modes whose primary metric is ``metric``. Modes of a kind in ``skip`` are
    left out while another candidate remains (the bank skips ``sensor`` modes unless the
    sensor's own signature, a collapsed variance, raised the alarm).

    >>> from core.profiles import load_profiles
    >>> ac = load_profiles()["aircon-x1"]
    >>> attribute(ac, {"cooling_delta_c": 0.3, "compressor_current_a": 0.2}, "cooling_delta_c")
    'refrigerant_leak'
    >>> attribute(ac, {"cooling_delta_c": 0.3, "compressor_current_a": 0.0}, "cooling_delta_c")
    'sensor_fault'
    """
    candidates = profile.modes_for_metric(metric) or list(profile.failure_modes)
    kept = [n for n in candidates if profile.failure_modes[n].kind not in skip]
    candidates = kept or candidates
    best, best_err = candidates[0], float("inf")
    for name in candidates:
        effects = profile.failure_modes[name].effects or {profile.failure_modes[name].metric: 1.0}
        dot = sum(fracs.get(m, 0.0) * e for m, e in effects.items())
        norm = sum(e * e for e in effects.values())
        a = max(dot / norm, 0.0)
        err = sum((f - a * effects.get(m, 0.0)) ** 2 for m, f in fracs.items())
        err += sum((a * e) ** 2 for m, e in effects.items() if m not in fracs)
        if err < best_err - 1e-12:
            best, best_err = name, err
    return best


# share of a metric's room moved beyond what the open modes explain (0.25 before the
# seventeenth round: a second fault's case came when it had used most of its window)
SECOND_MARGIN = 0.1


def second_fault(
    profile: DeviceProfile,
    fracs: Mapping[str, float],
    metric: str,
    open_modes: Collection[str],
    margin: float = SECOND_MARGIN,
    episodes: bool = False,
) -> str | None:
    """A mode not yet open whose primary metric is ``metric``, when ``metric`` has moved
    further toward its limit than the open modes explain (``margin`` of its room past
    what they explain together): a second fault on the device. ``episodes``: the
    metric's alarm rests on excursions that come and go, which no gradual fault makes:
    its intermittent mode, if none of the open ones is.

    Each open mode's extent is fitted to its ``effects`` on the *other* metrics (where
    it has any): ``metric``'s own move is what is in question, and fitting it in
    would let a second fault's rise pass for the first fault growing. The open modes'
    shares of ``metric`` add up, as faults' effects do: two open faults that each move
    the motor current a little explain more of it than either alone.

    >>> from core.profiles import load_profiles
    >>> ac = load_profiles()["aircon-x1"]
    >>> fracs = {"filter_dp_pa": 0.5, "cooling_delta_c": 0.2, "fan_rpm": 0.1}
    >>> second_fault(ac, fracs, "fan_rpm", {"filter_clog"}) is None
    True
    >>> second_fault(ac, {**fracs, "fan_rpm": 0.25}, "fan_rpm", {"filter_clog"})
    'fan_bearing_wear'
    """
    candidates = [
        n for n, m in profile.failure_modes.items() if m.metric == metric and m.kind != "sensor"
    ]
    if not candidates or any(n in open_modes for n in candidates):
        return None
    kinds = {profile.failure_modes[n].kind for n in open_modes}
    if episodes and "intermittent" not in kinds:
        come_and_go = [n for n in candidates if profile.failure_modes[n].kind == "intermittent"]
        if come_and_go:
            return come_and_go[0]
    explained = 0.0
    for name in open_modes:
        mode = profile.failure_modes[name]
        effects = mode.effects or {mode.metric: 1.0}
        others = {m: e for m, e in effects.items() if m != metric} or effects
        dot = sum(fracs.get(m, 0.0) * e for m, e in others.items())
        explained += max(dot / sum(e * e for e in others.values()), 0.0) * effects.get(metric, 0.0)
    return candidates[0] if fracs.get(metric, 0.0) - explained >= margin else None


def bump(severity: str) -> str:
    """One severity level higher (critical stays critical)."""
    i = SEVERITIES.index(severity) if severity in SEVERITIES else 1
    return SEVERITIES[min(i + 1, len(SEVERITIES) - 1)]


def describe(
    metric: str,
    spec: MetricSpec,
    expected: float,
    observed: float,
    per_day: float | None,
    eta_ts: float | None,
    now: float,
) -> str:
    """One line a service agent can check, e.g. 'filter_dp_pa 81.2 Pa (expected 55.0)...'."""
    u = spec.unit
    text = f"{metric} {observed:.4g} {u} (expected {expected:.4g} {u}, limit {spec.limit:g} {u})"
    if per_day:
        text += f", trend {per_day:+.3g} {u}/day"
    if spec.breached(observed):
        return text + "; past the user-visible limit"
    if eta_ts is not None:
        days = max(eta_ts - now, 0.0) / 86400.0
        when = datetime.fromtimestamp(eta_ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
        text += f"; limit reached in ~{days:.1f} days ({when})"
    return text
