"""One (device, metric) stream: the detectors combined with the profile's limit.

The degradation score ``D`` (alarm at 1) is the largest of:

- drift:  CUSUM shift toward the limit AND a robust trend heading for it, with the
          forecast crossing (ETA) inside ``horizon_days`` and the trend's level
          ``drift_moved`` of the way from the reference to the limit (under that the
          ETA has no basis either: ``eta.MIN_MOVED``): ``min(cusum/h, t/t_min)``;
- level:  the smoothed, de-seasonalised value has moved ``p_big`` of the way from its
          healthy reference to the user-visible limit;
- normal-range: that value has left the normal range toward the limit by ``out_frac``
          of the room between the range's edge and the limit; the edge is the
          profile's, or the device's own healthy level (taken when its reference was
          first warm) plus half the normal width, whichever lies further toward the
          limit (a hardware revision with a higher normal level is not a fault);
- excursions: short runs far toward the limit that come back (spikes of a failing
          sensor, episodes of an intermittent fault), decayed, ``spike_mass`` of them;
- variance collapse: the reading-to-reading variance (an EW mean of squared
          differences over ~2 h, ``flat_alpha``) has stayed below ``collapse`` of the
          device's own norm (the same over ~3 days, ``var_alpha``) for ``flat_n``
          readings: a stuck sensor, exact or flipping its last bit; a sample-and-hold
          or quantised sensor keeps its variance and does not fire; a long hold of a
          sample-and-hold sensor counts only as far as a working one would not have
          held (``_flat_weight``);
- ramp:   a steady climb over the last few hourly means (``Trend.ramp``) while the CUSUM
          is out of control: ``min(cusum/h, ramp)`` (a fault creeping up before it trips);
- breach: the smoothed value is past the limit.

The healthy reference is the CUSUM's robust seasonal baseline (``SeasonalBaseline``:
level + hour-of-day offsets + spread), which learns only while the CUSUM is in control,
so a developing fault is not learned as normal; its robust z also feeds the excursion
count. A level shift (a benign change) never gets a trend, and a shift that has kept the
CUSUM out of control for ``rebase_days`` without raising an alarm is accepted by the
reference as the new normal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from anomaly.cusum import Cusum
from anomaly.eta import MIN_MOVED
from anomaly.kernel import (
    CALM,
    EXCURSION_ROOM,
    HOLD_ALPHA,
    HOLD_NATS,
    HOLD_RATE_ALPHA,
    HOLD_RATE_MIN,
    NOW_DAYS,
    QUIET_S,
    REVISIT_MAX,
    SETTLE_MARGIN,
    SETTLE_S,
    SHARED,
    SQRT2,
    STEEPER,
    SUDDEN,
)
from anomaly.postprocess import Alarm, Edge
from anomaly.trend import RAMP_FLOOR, Trend
from core.profiles import MetricSpec


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Hyper-parameters of every stream (one object shared by the bank)."""

    warmup: int = 576
    cusum_k: float = 0.5
    cusum_h: float = 12.0
    cusum_alpha: float = 0.003
    trend_window: int = 72
    trend_fit: int = 72  # the trend's t and slope use the pairs within the last this many buckets
    trend_lag: int = 24
    # a fit needs this many day-lag pairs: a whole day of them, one per hour of the day.
    # Half a day (12, before) after a jump or a rebase let one afternoon's weather be the
    # whole evidence (docs/detection.md, ninth round)
    trend_min_pairs: int = 24
    # a day-lag difference counts toward the trend less this share of the cohort's
    # common movement over the same pair (a coupling to the weather that is off by up
    # to this much leaves no trend): Trend._uncoupled. 0 (off) by default: 0.5 cuts
    # false cases on the tuning seeds 11 -> 4 but costs lead (docs/detection.md)
    trend_coupling: float = 0.0
    # a second fit over the last this many buckets may stand for the trend once the
    # level has moved and the last day's move stands out of the unit's own wander
    # (MetricStream._fast, Trend._fast), where its t is the larger, its hourly means
    # bend rather than step (trend.FAST_BEND) and have not stopped (trend._stalled).
    # 0 (off) by default: 48 with wander_z 4 and veto_bend 2.5 takes the worst
    # held-out seed's lead 0.575 -> 0.5996 with no false case (seeds 21-28: 0.572 ->
    # 0.592, false cases 2 -> 2; docs/detection.md, ninth, eighteenth, twenty-first and
    # twenty-second rounds)
    trend_fit_fast: int = 0
    # > 0: the trend's t takes its spread about a line over time, never under 1 - this
    # of the plain spread (Trend._t_stat, trend._spread): an accelerating fault's growth
    # is no noise. 0 (off) by default: 1 takes the worst tuning seed's lead 0.549 ->
    # 0.562 on seeds 21-28 for 3 -> 4 false cases, and the relocation stress fleet's
    # share with a false case 3.8% -> 6.2% (docs/detection.md, eighteenth round)
    trend_detrend: float = 0.0
    fast_coupling: float = 0.5  # that fit's share of the common movement (_uncoupled)
    wander_z: float = 3.0  # the last day's move over the unit's own day-to-day wander (RMS)
    # a drift's level off the reference must be this many times the unit's own
    # day-to-day wander (MetricStream._past_wander), and a ramp's rise (3 hours or a
    # day's creep) ramp_wander_z times (Trend._ramp): a unit alone in its region has
    # the weather in its values, which no peers cancel. 0: off (docs/detection.md,
    # tenth round)
    level_wander_z: float = 3.0
    ramp_wander_z: float = 5.0
    t_min: float = 3.0
    drift_fits: int = 2
    step_veto: float = 0.5
    # > 0: the step veto spares a window whose hourly means bend into a line (flat, then
    # rising) this many times better than they step (Trend._without_step): the knee of
    # an accelerating fault is no level shift, yet with the two-day fit's 24 pairs the
    # veto drops them all. 0 (off) by default: 2.5 (trend.BEND_LINE) matters with
    # trend_fit_fast (docs/detection.md, twenty-second round)
    veto_bend: float = 0.0
    trend_quantile: float = 0.3
    horizon_days: float = 12.0
    drift_moved: float = MIN_MOVED  # share of the way to the limit a drift must have moved
    # > 0: ... measured at the level now, half a day of the slope past the last day's
    # mean (MetricStream._drift_moved). 0 (off) by default: with trend_detrend 1 it takes
    # the worst tuning seed's lead 0.562 -> 0.575; alone, the relocation stress fleet's
    # share 3.8% -> 5.1% (docs/detection.md, eighteenth round)
    drift_now: float = 0.0
    p_big: float = 0.5
    out_frac: float = 0.05
    spike_z: float = 5.0
    spike_max_run: int = 24
    spike_cap: int = 4
    spike_back_n: int = 3
    spike_decay: float = 1.0 / 144.0
    spike_mass: float = 2.0
    flat_n: int = 72
    flat_alpha: float = 1.0 / 12.0
    var_alpha: float = 1.0 / 432.0
    collapse: float = 0.05
    accel_z: float = 3.0
    # > 0: an acceleration from this z (to accel_z) counts in part toward the trend's ETA
    # and so its horizon (Trend._motion). 0 (off) by default: 2.0 takes the worst tuning
    # seed's lead 0.575 -> 0.590 with trend_detrend and drift_now, false cases 4 -> 7
    # (docs/detection.md, eighteenth round)
    accel_soft: float = 0.0
    motion_n: int = 24
    smooth_alpha: float = 1.0 / 12.0
    rebase_days: float = 3.0
    step_hours: float = 1.0
    alarm_n: int = 6
    alarm_m: int = 12
    clear: float = 0.5
    clear_n: int = 144
    suppress_s: float = 6 * 3600.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def for_interval(self, interval_s: float) -> StreamConfig:
        """The same time constants for a stream that reports every ``interval_s``.

        The counts and per-reading rates above are set for 10-minute readings
        (``REFERENCE_INTERVAL_S``): 144 readings are a day. A 5-minute stream gets 288,
        a rate per reading half as large, a CUSUM threshold twice as high, so each
        detector waits the same time and a faster device is not alarmed more often.
        """
        f = min(max(REFERENCE_INTERVAL_S / interval_s, 0.2), 5.0)
        if abs(f - 1.0) < 0.05:
            return self

        def n(v: int) -> int:
            return max(1, int(round(v * f)))

        return replace(
            self,
            warmup=n(self.warmup),
            cusum_h=self.cusum_h * f,
            cusum_alpha=self.cusum_alpha / f,
            flat_n=n(self.flat_n),
            flat_alpha=self.flat_alpha / f,
            var_alpha=self.var_alpha / f,
            smooth_alpha=min(1.0, self.smooth_alpha / f),
            spike_max_run=n(self.spike_max_run),
            spike_back_n=n(self.spike_back_n),
            spike_decay=self.spike_decay / f,
            alarm_n=n(self.alarm_n),
            alarm_m=min(n(self.alarm_m), 62),
            clear_n=n(self.clear_n),
        )


REFERENCE_INTERVAL_S = 600.0
SCALE_FLOOR = 0.01  # share of the room from the normal edge to the limit


def same(a: float, b: float) -> bool:
    """``a`` is ``b`` as a sensor resends it (equal to float noise): a held sample."""
    return abs(a - b) <= 1e-9 * (1.0 + abs(a))


def scale_floor(spec: MetricSpec) -> float:
    """The smallest noise scale a stream is given: 1% of the room between the normal
    range's edge and the limit. A sensor that repeats its values (sample-and-hold, a
    coarse converter) would otherwise learn a zero spread, and every change would be an
    infinite z."""
    edge = spec.normal[1] if spec.direction == "up" else spec.normal[0]
    return SCALE_FLOOR * abs(spec.limit - edge)


class MetricStream:
    """Detectors, smoothing and the alarm for one metric of one device."""

    # the jump rule's gain windows and the sensor's held samples, in checkpoint order
    GAIN = (
        "_gain_at",
        "_gain_from",
        "_gain_prev",
        "_gain_jump",
        "_gain_at2",
        "_gain_from2",
        "_gain_prev2",
        "_gain_old",
        "_gain_old2",
    )
    HOLD = ("_hold_last", "_hold_prev", "_hold_jump", "_hold_revisit", "_hold_rate")

    __slots__ = (
        "spec",
        "cfg",
        "sign",
        "edge",
        "cusum",
        "trend",
        "alarm",
        "smooth",
        "deseason",
        "spikes",
        "score",
        "drift",
        "level_frac",
        "out",
        "_run",
        "_back",
        "_above",
        "_zbar",
        "_flat",
        "_last",
        "_flat_since",
        "_n",
        "_fits",
        "_hot",
        "ramping",
        "_dv_short",
        "_dv_long",
        "_home",
        "_calm_at",
        "_out_at",
        "_jump_at",
        "_gain_at",
        "_gain_from",
        "_gain_prev",
        "_gain_at2",
        "_gain_from2",
        "_gain_prev2",
        "_gain_old",
        "_gain_old2",
        "_gain_jump",
        "common",
        "_run_common",
        "_run_peak",
        "_hold_last",
        "_hold_prev",
        "_hold_jump",
        "_hold_revisit",
        "_hold_rate",
        "_stepped",
        "_away_calm",
        "_away_step",
    )

    def __init__(self, spec: MetricSpec, cfg: StreamConfig) -> None:
        self.spec = spec
        self.cfg = cfg
        self.sign = 1.0 if spec.direction == "up" else -1.0
        self.edge = spec.normal[1] if spec.direction == "up" else spec.normal[0]
        self.cusum = Cusum(
            k=cfg.cusum_k,
            alpha=cfg.cusum_alpha,
            warmup=cfg.warmup,
            direction=spec.direction,
            min_scale=scale_floor(spec),
        )
        self.trend = Trend(
            window=cfg.trend_window,
            fit=cfg.trend_fit,
            coupling=cfg.trend_coupling,
            fit_fast=cfg.trend_fit_fast,
            detrend=cfg.trend_detrend,
            accel_soft=cfg.accel_soft,
            fast_coupling=cfg.fast_coupling,
            ramp_wander_z=cfg.ramp_wander_z,
            lag=cfg.trend_lag,
            min_pairs=cfg.trend_min_pairs,
            limit=spec.limit,
            direction=spec.direction,
            step_veto=cfg.step_veto,
            veto_bend=cfg.veto_bend,
            quantile=cfg.trend_quantile,
            accel_z=cfg.accel_z,
            motion_n=cfg.motion_n,
        )
        self.alarm = Alarm(
            threshold=1.0,
            clear=cfg.clear,
            n=cfg.alarm_n,
            m=cfg.alarm_m,
            clear_n=cfg.clear_n,
            suppress_s=cfg.suppress_s,
        )
        self.smooth = self.deseason = 0.0
        self.spikes = self.score = self.drift = self.level_frac = self.out = 0.0
        self.ramping = 0.0
        self._run = self._back = self._above = 0
        self._zbar = self._flat = 0.0
        self._last = float("nan")
        self._flat_since: float | None = None
        self._n = self._fits = self._hot = 0
        self._dv_short = self._dv_long = 0.0
        self._home = float("nan")
        self._calm_at = float("nan")
        self._out_at = float("nan")
        self._jump_at = float("nan")
        # the CUSUM's gain per window of step_hours (_gain_jump_check)
        self._gain_at = self._gain_from = self._gain_prev = self._gain_jump = float("nan")
        # the same per window of a second set, half a window later
        self._gain_at2 = self._gain_from2 = self._gain_prev2 = float("nan")
        # each set's gain in the window before its last (the STEEPER rule)
        self._gain_old = self._gain_old2 = float("nan")
        # the cohort's common movement a filter in front took out of the value (0 without)
        self.common = 0.0
        self._run_common = self._run_peak = 0.0
        # the sensor's samples as sent: the last, the one before, its jumps and returns
        self._hold_last = self._hold_prev = self._hold_jump = float("nan")
        self._hold_revisit = 0.5  # unknown until the sensor has changed ~20 times
        self._hold_rate = 0.0  # the share of its readings that repeat the held sample
        # when it last jumped, until its reference learns again (the cohort filter in
        # front, compiled only, learns nothing from it meanwhile: kernel_cohort)
        self._stepped = float("nan")
        # when the sum away from the limit was last calm, and when it then stepped
        self._away_calm = self._away_step = float("nan")

    def update(self, ts: float, x: float) -> Edge:
        """Score one value, learn from it, and return the alarm edge (if any)."""
        cfg = self.cfg
        n = self._n = self._n + 1
        a = cfg.smooth_alpha if n > 12 else 1.0 / n
        d = x - self.cusum.reference.offset(ts)
        self.smooth += a * (x - self.smooth)
        self.deseason += a * (d - self.deseason)
        hold = self._held(n, x)
        self._collapse(ts, n, x, hold)
        c = self.cusum.update(ts, x) / cfg.cusum_h
        self._jump(ts, c)
        if self.cusum.learning:
            self._stepped = float("nan")
        excursion = self._excursions(ts, x, self.sign * self.cusum.last_z, hold)
        self.trend.noise_floor = RAMP_FLOOR * self.cusum.reference.sigma
        t = self.trend.update(ts, d, self.common) / cfg.t_min
        eta = self.trend.eta_ts
        soon = eta is not None and eta - ts < cfg.horizon_days * 86400
        # the two-day fit stands for the trend (and its level gate for the drift's) only
        # where it says more than the whole window: the plain t keeps the plain gate
        fast = cfg.trend_fit_fast > 0 and self.trend.t_fast / cfg.t_min > t and self._fast()
        if fast:
            t = self.trend.t_fast / cfg.t_min
        if self.trend.fits != self._fits:  # a bucket closed: is the trend still on?
            self._fits = self.trend.fits
            self._hot = self._hot + 1 if soon and t >= 1.0 else 0
        on = soon and self._hot >= cfg.drift_fits
        on = on and (fast or self._drift_moved() >= cfg.drift_moved)
        on = on and self._past_wander()
        self.drift = (c if c < t else t) if on else 0.0
        ramp = self.trend.ramp if self.cusum.reference.warm else 0.0
        self.ramping = c if c < ramp else ramp
        score = max(
            self.drift,
            self._level_frac() / cfg.p_big,
            self._out(ts) / cfg.out_frac,
            excursion,
            self._flat / cfg.flat_n,
            self.ramping,
        )
        if n > 6 and self.sign * (self.smooth - self.spec.limit) >= 0.0:
            score = 2.0
        self.score = score
        edge = self.alarm.step(ts, score)
        if self.alarm.active:  # while a case is open the moves are its own (a repair ends them)
            self.trend.drop_held()
        self._maybe_rebase(ts, c, t)
        return edge

    def _jump(self, ts: float, c: float) -> None:
        """A jump: the CUSUM went from calm (below ``CALM`` of its threshold) to the
        threshold within ``step_hours``, after a day below it (``QUIET_S``; a fault that
        shows at peak hours first comes back every day and is no jump), or within
        ``SUDDEN`` of ``step_hours`` after any day: values near the CUSUM's cap from
        the first one on, which a peak that builds over the hours does not give. The
        trend forgets the hours before it, so a one-off shift is not read as a trend; a
        movement that goes on shows again. The normal-range check lets the new level
        settle (``_out``)."""
        self._gain_jump_check(ts, c)
        if c < CALM:
            self._calm_at = ts
        elif c >= 1.0:
            calm, out = self._calm_at, self._out_at
            quiet = out != out or calm - out >= QUIET_S
            sudden = ts - calm <= SUDDEN * self.cfg.step_hours * 3600.0
            if calm == calm and ts - calm <= self.cfg.step_hours * 3600.0 and (quiet or sudden):
                self.trend.forget()
                self._jump_at = self._stepped = ts
            self._calm_at = float("nan")
            self._out_at = ts

    def _gain_jump_check(self, ts: float, c: float) -> None:
        """A step while the CUSUM is already out of control is a jump too.

        A unit whose CUSUM a spell (or its own weekend) has kept out for days and that
        then steps to a new level (a firmware update, a replaced or recalibrated unit
        back from hours off) never goes from calm to the threshold. Per window of
        ``step_hours``, the CUSUM's gain: one that was not calm at the window's start
        (``CALM``; from calm, ``_jump``'s own rule holds) and gains its whole threshold
        within the window, after a window that gained
        under ``CALM`` of it, or after two windows that together gained under a fifth of
        what this one gained (``STEEPER``), has stepped; once a day at most
        (``QUIET_S``). A spell or a fault's daily peak raises the gain over hours, not
        from a flat hour to a full threshold in the next; a step on a CUSUM that a spell
        keeps gaining a little makes it five times steeper than the two hours before (a
        fault under way gains in every hour, a lull in one of them is not enough). The
        re-baseline's days out of control count from the step (it takes the trend's
        level, which the trend has to fit again first).
        A window's gain is whole with the reading that closes it (the first one
        ``step_hours`` after its start), which also opens the next. A second set of
        windows opens at the first reading past the middle of each window of the first
        (also after a gap): a step that begins late in a window of one set (which then
        gains only part of it, so the next window is not after a calm one) lies whole
        in a window of the other.
        """
        at = self._gain_at
        if at == at:
            self._gain_step(ts, c, self._gain_from, self._gain_prev, self._gain_old)
        if at != at or ts - at >= self.cfg.step_hours * 3600.0:
            self._gain_old = self._gain_prev
            self._gain_prev = c - self._gain_from if at == at else float("nan")
            self._gain_at, self._gain_from = ts, c
        at2 = self._gain_at2
        if at2 == at2:
            self._gain_step(ts, c, self._gain_from2, self._gain_prev2, self._gain_old2)
        mid = self._gain_at + 0.5 * self.cfg.step_hours * 3600.0
        if ts >= mid and not at2 >= mid:
            self._gain_old2 = self._gain_prev2
            self._gain_prev2 = c - self._gain_from2 if at2 == at2 else float("nan")
            self._gain_at2, self._gain_from2 = ts, c

    def _gain_step(self, ts: float, c: float, start: float, prev: float, old: float) -> None:
        """A window (not calm at its ``start``) has gained the whole threshold after a
        window that gained under ``CALM`` (``prev``), or after two (``old``, ``prev``)
        that gained under a fifth of it together (``STEEPER``): a jump, once a day at
        most."""
        gain = c - start
        steep = prev + old <= gain / STEEPER
        if start < CALM or gain < 1.0 or not (prev <= CALM or steep):
            return
        last = self._gain_jump
        if last != last or ts - last >= QUIET_S:
            self.trend.forget()
            self._jump_at = self._gain_jump = self._stepped = ts
            self._flat_since = ts  # the new level's days out count from the step
            self._gain_prev = self._gain_prev2 = float("nan")

    def _far(self, dev: float) -> bool:
        """``dev`` (a value's deviation from the expected value toward the limit) is
        ``EXCURSION_ROOM`` of the room from the expected value to the limit."""
        room = abs(self.spec.limit - self.cusum.reference.expected_mean())
        return dev >= EXCURSION_ROOM * room

    def _shared(self) -> bool:
        """The cohort's common movement rose toward the limit during the excursion by
        ``SHARED`` of the excursion's peak: the value went up with its peers and came
        "back" only because the common estimate (a time constant behind) caught up, as
        at a usage change every home of a region makes at the same local midnight. A
        failing part's spikes are its own; they hardly move what its peers share."""
        return self.sign * (self.common - self._run_common) >= SHARED * self._run_peak

    def _held(self, n: int, x: float) -> float:
        """The sensor's deadband when ``x`` repeats a held sample of a sample-and-hold
        sensor, else 0.

        A sample-and-hold sensor sends a new sample only when it moved by its deadband
        from the one it holds; a repeat is no new measurement, only that the value is
        still within the deadband of the held one. Its deadband is measured as the mean
        of its jumps (``HOLD_ALPHA``: about its last 20). A quantised sensor repeats
        too, but each repeat is a new sample, and its changes often return to the value
        before (``REVISIT_MAX`` of them); a sample-and-hold sensor's values never do.

        It also learns the share of readings that repeat (``_hold_rate``, EW over about
        200 readings, ten times slower while the stream is flat): a sensor that holds
        its samples does so when healthy too, a continuous one only once stuck.
        """
        raw = x + self.common  # the value as the sensor sent it
        last = self._hold_last
        if last != last:
            self._hold_last = raw
            return 0.0
        step, jump = abs(raw - last), self._hold_jump
        repeat = same(raw, last)  # the same sample again
        a = 1.0 / n if 1.0 / n > HOLD_RATE_ALPHA else HOLD_RATE_ALPHA
        a = a / 10.0 if self._flat > 0.0 else a  # a flat spell is not the sensor's habit
        self._hold_rate += a * ((1.0 if repeat else 0.0) - self._hold_rate)
        if repeat:
            return jump if jump == jump and self._hold_revisit < REVISIT_MAX else 0.0
        self._hold_jump = step if jump != jump else jump + HOLD_ALPHA * (step - jump)
        back = 1.0 if same(raw, self._hold_prev) else 0.0
        self._hold_revisit += HOLD_ALPHA * (back - self._hold_revisit)
        self._hold_prev, self._hold_last = last, raw
        return 0.0

    def _excursions(self, ts: float, x: float, z: float, hold: float) -> float:
        """Short runs far toward the limit that come back: spikes and episodes.

        A reading counts toward one only when it is also far (``_far``: ``EXCURSION_ROOM``
        of the room from the expected value to the limit): a sample-and-hold sensor whose
        held value jumps by its deadband under a moving cohort is many of its own sigmas
        out, but not a spike of a failing part, which moves a good share of the way.

        z is taken relative to its recent level ``_zbar`` (a robust EW mean of z, ~2 h, that
        pauses during an excursion). An excursion starts above ``spike_z`` and ends when
        z has been back within 1.5 of that level for ``spike_back_n`` readings in a row (a
        step whose noise dips below the line once is not a return); one that lasts longer
        than ``spike_max_run`` is a level shift, not an excursion: it is not counted and
        becomes the new level.

        A repeat of a sample-and-hold sensor's held sample (``hold``, its deadband, from
        ``_held``) counts as far as the nearest value the deadband allows: a low sample
        held through a heat spell is no run of far readings.
        """
        cfg = self.cfg
        self.spikes -= cfg.spike_decay * self.spikes
        rel = z - self._zbar
        sigma = self.cusum.reference.sigma
        slack = hold / sigma if hold > 0.0 else 0.0
        # the value's deviation toward the limit, needed in a run or at a candidate start
        expected = self.cusum.reference.expected
        dev = self.sign * (x - expected(ts)) if self._run or rel > cfg.spike_z else 0.0
        if self._run:
            self._run += 1
            self._above += rel - slack > cfg.spike_z and self._far(dev - hold)
            self._run_peak = dev if dev > self._run_peak else self._run_peak
            if rel >= 1.5:
                self._back = 0
            else:
                self._back += 1
                if self._back >= cfg.spike_back_n:  # back, and stayed back: it was one
                    if not self._shared():
                        self.spikes += min(self._above, cfg.spike_cap)
                    self._run = self._back = 0
            if self._run > cfg.spike_max_run:
                self._run = self._back = 0
                self._zbar = z
        elif rel - slack > cfg.spike_z and self._far(dev - hold):
            self._run = self._above = 1
            self._run_common, self._run_peak = self.common, dev
        else:
            self._zbar += (3.0 if rel > 3.0 else (-3.0 if rel < -3.0 else rel)) / 12.0
        return self.spikes / cfg.spike_mass

    def _collapse(self, ts: float, n: int, x: float, hold: float) -> None:
        """Count readings whose short-term difference variance has collapsed (each as
        ``_flat_weight`` says)."""
        cfg, diff = self.cfg, x - self._last
        self._last = x
        if diff != diff:
            return
        d2 = diff * diff
        a = 1.0 / n if 1.0 / n > cfg.flat_alpha else cfg.flat_alpha
        self._dv_short += a * (d2 - self._dv_short)
        warm = n > cfg.warmup
        collapsed = warm and self._dv_short < cfg.collapse * self._dv_long
        b = 1.0 / n if 1.0 / n > cfg.var_alpha else cfg.var_alpha
        b = b / 10.0 if collapsed else b  # the norm barely moves while collapsed
        cap = 9.0 * self._dv_long  # a step or a spike is not the norm
        self._dv_long += b * ((d2 if not warm or d2 < cap else cap) - self._dv_long)
        self._flat = self._flat + self._flat_weight(ts, x, hold) if collapsed else 0.0

    def _flat_weight(self, ts: float, x: float, hold: float) -> float:
        """How much a collapsed reading counts toward ``flat_n``: 1, or for a repeat of a
        sample-and-hold sensor (``hold``, its deadband; a sensor that repeats
        ``HOLD_RATE_MIN`` of its readings when healthy) the evidence the repeat gives.

        A working sample-and-hold sensor holds its sample while its value stays within
        the deadband, so a repeat says little while the expected value is near the held
        one: with the value ``u`` sigmas from the expected and the deadband ``d`` sigmas,
        a working sensor holds with ``q = P(|u + N(0, 1)| < d)``, and the repeat counts
        ``-ln(q) / HOLD_NATS`` (at most 1). A sensor whose expected value moved past the
        deadband under a held sample counts fully; a healthy 18-hour hold, where the
        day's cycle stays inside it, does not reach ``flat_n``.
        """
        if hold <= 0.0 or self._hold_rate < HOLD_RATE_MIN:
            return 1.0
        ref = self.cusum.reference
        u, d = (x - ref.expected(ts)) / ref.sigma, hold / ref.sigma
        q = 0.5 * (math.erf((d - u) / SQRT2) - math.erf((-d - u) / SQRT2))
        q = q if q < self._hold_rate else self._hold_rate  # no likelier than its habit
        w = -math.log(q) / HOLD_NATS if q > 0.0 else 1.0
        return w if w < 1.0 else 1.0

    def _out(self, ts: float) -> float:
        """How far the de-seasonalised level is past the normal range, per room to limit.

        For ``SETTLE_S`` after a jump the evidence counts ``1 / SETTLE_MARGIN`` (a new
        level is settling: a replaced unit, a recalibrated sensor); a level that then
        sits within that wider margin becomes the device's own level, so the weather of
        the days after does not push a new normal at the range's edge over it. A jump
        far past the range (a power surge that damaged the unit) alarms all the same.
        """
        if self._n <= 12 or not self.cusum.reference.warm:
            self.out = 0.0
            return 0.0
        if self._home != self._home:
            self._home = self.cusum.reference.expected_mean()
        own = self._home + self.sign * (self.spec.normal[1] - self.spec.normal[0]) / 2.0
        edge = self.edge if self.sign * (self.edge - own) >= 0.0 else own
        self.out = self.sign * (self.deseason - edge) / abs(self.spec.limit - edge)
        jump = self._jump_at
        if jump != jump:
            return self.out
        if ts - jump < SETTLE_S:
            return self.out / SETTLE_MARGIN
        if self.out < SETTLE_MARGIN * self.cfg.out_frac:
            self._home = self.deseason
        self._jump_at = float("nan")
        return self.out

    def _way(self, level: float) -> float:
        """``level``'s share of the way from the reference's mean to the limit."""
        expected = self.cusum.reference.expected_mean()
        return self.sign * (level - expected) / (abs(self.spec.limit - expected) or 1e-9)

    def _moved(self) -> float:
        """How far the trend's level has left the reference, as a share of the way to
        the limit (0 before the reference is warm)."""
        if not self.cusum.reference.warm or self.trend.level != self.trend.level:
            return 0.0
        return self._way(self.trend.level)

    def _drift_moved(self) -> float:
        """The share of the way a drift has moved: the trend's level (``_moved``) or,
        with ``drift_now``, the level now (the last day's mean is centred half a day
        back: half a day of the slope on, ``NOW_DAYS``)."""
        trend = self.trend
        if self.cfg.drift_now <= 0.0 or not self.cusum.reference.warm or trend.level != trend.level:
            return self._moved()
        return self._moved_now()

    def _moved_now(self) -> float:
        """The share of the way the level has moved *now*: the trend's level is the last
        day's mean, centred half a day back, so half a day of its slope on
        (``NOW_DAYS``)."""
        return self._way(self.trend.level + NOW_DAYS * self.trend.slope_per_day)

    def _past_wander(self) -> bool:
        """The trend's level stands ``level_wander_z`` times this unit's own day-to-day
        wander (``Trend.dl_var``) off the reference: a unit that moves by itself over
        days (a lone unit in the weather, which no peers cancel; a room's own use) must
        leave that range before a drift is a fault. Open while the wander is not known."""
        z, wander = self.cfg.level_wander_z, self.trend.dl_var
        if z <= 0.0 or wander <= 0.0:
            return True
        level = self.sign * (self.trend.level - self.cusum.reference.expected_mean())
        return level >= z * math.sqrt(wander)

    def _fast(self) -> bool:
        """The two-day fit (``Trend.t_fast``) may stand for the trend: the level now (the
        last day's mean, half a day of the slope on: ``NOW_DAYS``) has moved
        ``drift_moved`` of the way, and the last day's move is ``wander_z`` times this
        unit's own day-to-day wander (``Trend.dl_var``). Two days of a rise cannot tell
        an accelerating fault from a unit that wanders by itself over a few days; its
        own history can."""
        cfg, trend = self.cfg, self.trend
        if self._moved() <= 0.0:
            return False
        if self._moved_now() < cfg.drift_moved:
            return False
        if cfg.wander_z <= 0.0:
            return True
        # 0 until the unit's own wander is known (Trend._wander): no two-day fit before
        return trend.dl_var > 0.0 and trend.dl >= cfg.wander_z * math.sqrt(trend.dl_var)

    def _level_frac(self) -> float:
        self.level_frac = self._way(self.deseason) if self.cusum.reference.warm else 0.0
        return self.level_frac

    def _maybe_rebase(self, ts: float, c: float, t: float) -> None:
        """A shift held ``rebase_days`` without an alarm becomes the new normal: one
        toward the limit (``c``), or one away from it that came as a step (the other
        sum went from calm, under ``CALM`` of its threshold, to the threshold within
        ``step_hours``: a relocation, a replaced or recalibrated unit). Held away, the
        reference would learn nothing again and the unit would wait for a fault to
        climb back past its old level; a spell that holds a lone unit away for days
        comes on over many hours and is no new normal (its end would read as a rise).
        Only a shift toward the limit moves the device's own level for its
        normal-range edge (``_out``)."""
        toward, away = c, self.cusum.away / self.cfg.cusum_h
        if away < CALM:
            self._away_calm, self._away_step = ts, float("nan")
        elif away >= 1.0 and self._away_step != self._away_step:
            calm = self._away_calm
            if calm == calm and ts - calm <= self.cfg.step_hours * 3600.0:
                self._away_step = ts
        if self._away_step == self._away_step and away > c:
            c = away
        if self.alarm.active or c < 1.0:
            self._flat_since = None
            return
        if self._flat_since is None:
            self._flat_since = ts
        elif ts - self._flat_since >= self.cfg.rebase_days * 86400:
            self.cusum.accept(self.trend.level)
            self._flat_since = None
            if self.cusum.reference.warm and toward >= 1.0:  # away: the edge stays
                self._home = self.cusum.reference.expected_mean()
            self.trend.forget()

    def state_dict(self) -> dict[str, Any]:
        return {
            "cusum": self.cusum.state_dict(),
            "trend": self.trend.state_dict(),
            "alarm": self.alarm.state_dict(),
            "smooth": self.smooth,
            "deseason": self.deseason,
            "spikes": self.spikes,
            "score": self.score,
            "drift": self.drift,
            "level_frac": self.level_frac,
            "out": self.out,
            "run": self._run,
            "back": self._back,
            "above": self._above,
            "zbar": self._zbar,
            "flat": self._flat,
            "last": None if self._last != self._last else self._last,
            "flat_since": self._flat_since,
            "n": self._n,
            "fits": self._fits,
            "hot": self._hot,
            "ramping": self.ramping,
            "dv_short": self._dv_short,
            "dv_long": self._dv_long,
            "home": None if self._home != self._home else self._home,
            "calm_at": None if self._calm_at != self._calm_at else self._calm_at,
            "out_at": None if self._out_at != self._out_at else self._out_at,
            "jump_at": None if self._jump_at != self._jump_at else self._jump_at,
            "stepped": None if self._stepped != self._stepped else self._stepped,
            "away": [None if v != v else v for v in (self._away_calm, self._away_step)],
            "gain": [None if v != v else v for v in (getattr(self, n) for n in self.GAIN)],
            "common": self.common,
            "run_common": self._run_common,
            "run_peak": self._run_peak,
            "hold": [None if v != v else v for v in (getattr(self, n) for n in self.HOLD)],
        }

    def load_state_dict(self, st: dict[str, Any]) -> None:
        self.cusum.load_state_dict(st["cusum"])
        self.trend.load_state_dict(st["trend"])
        self.alarm.load_state_dict(st["alarm"])
        self.smooth = float(st["smooth"])
        self.spikes = float(st["spikes"])
        self.score = float(st["score"])
        self.drift = float(st["drift"])
        self.level_frac = float(st["level_frac"])
        self.deseason = float(st["deseason"])
        self.out = float(st["out"])
        self._run = int(st["run"])
        self._back = int(st.get("back", 0))
        self._above = int(st.get("above", 0))
        self._zbar = float(st["zbar"])
        self._flat = float(st["flat"])
        self._last = float("nan") if st["last"] is None else float(st["last"])
        self._flat_since = st["flat_since"]
        self._n = int(st["n"])
        self._fits = int(st.get("fits", 0))
        self._hot = int(st.get("hot", 0))
        self.ramping = float(st.get("ramping", 0.0))
        self._dv_short = float(st.get("dv_short", 0.0))
        self._dv_long = float(st.get("dv_long", 0.0))
        self._home = float("nan") if st.get("home") is None else float(st["home"])
        calm, out = st.get("calm_at"), st.get("out_at")
        self._calm_at = float("nan") if calm is None else float(calm)
        self._out_at = float("nan") if out is None else float(out)
        jump = st.get("jump_at")
        self._jump_at = float("nan") if jump is None else float(jump)
        stepped = st.get("stepped")
        self._stepped = float("nan") if stepped is None else float(stepped)
        away = list(st.get("away") or [None, None])
        self._away_calm, self._away_step = (float("nan") if v is None else float(v) for v in away)
        gain = list(st.get("gain") or [])
        gain += [None] * (len(self.GAIN) - len(gain))  # older: one set, or no two-back gains
        for name, v in zip(self.GAIN, gain, strict=True):
            setattr(self, name, float("nan") if v is None else float(v))
        self.common = float(st.get("common", 0.0))
        self._run_common = float(st.get("run_common", 0.0))
        self._run_peak = float(st.get("run_peak", 0.0))
        hold = list(st.get("hold") or [None, None, None, 0.5])
        hold += [0.0] * (len(self.HOLD) - len(hold))  # before version 10 no repeat share
        for name, v in zip(self.HOLD, hold, strict=True):
            setattr(self, name, float("nan") if v is None else float(v))
