"""Offline scorecard: a simulated fleet through Kizuki and the static-threshold baseline.

Both see the same readings in the same run, and both go through the same case dedup
rule (``scorecard.CaseLedger``); the figures are computed from the fleet's ground truth.
The readings come from a fleet simulated in memory (``run``), from a folder written by
``kizuki simulate --offline`` (``run_offline``), or from several seeds run in parallel
processes (``run_seeds``: one scorecard per seed and the worst case over them).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any

import orjson

from anomaly.bank import BankConfig, DetectorBank
from anomaly.scorecard import BASELINE_RULE, CaseLedger, Population, Truth, neighbours, scorecard
from anomaly.threshold import StaticThreshold
from anomaly.worst import combine, targets
from core.profiles import load_profiles
from core.readings import Reading

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from simulator.offline import OfflineRun

START_TS = 1_767_225_600.0  # 2026-01-01 00:00 UTC: a fixed start keeps runs comparable
OnTick = Callable[[int], None]  # called after each tick with its number of readings


class EvaluateError(ValueError):
    """Input that cannot be scored: a missing, incomplete or malformed offline folder."""


DEFAULT_SEEDS = (101, 102, 103, 104, 105, 106, 107, 108)  # never used to tune detectors


@dataclass(frozen=True, slots=True)
class EvalSpec:
    devices: int = 500
    days: float = 30.0
    seed: int = 7
    failure_rate: float = 0.1
    step_s: float = 600.0
    confounders: str = "all"  # simulator.confounders.Confounders.parse
    benign_rate: float = 0.1  # share of devices with one benign change
    benign: str = ""  # the kinds of change to draw from, comma list ("": every kind)


@dataclass(frozen=True, slots=True)
class Source:
    """What one scorecard run reads: ticks of readings, the devices and the truth."""

    ticks: Iterable[list[Reading]]
    models: dict[str, str]  # device id -> product model
    truth: Sequence[Truth]
    benign_ids: set[str]  # devices with a benign change
    days: float
    run: dict[str, Any]  # how the fleet was made, for the report
    start_ts: float = START_TS
    conditions: dict[str, set[str]] = field(default_factory=dict)  # benign kind -> devices
    cohorts: dict[str, str] = field(default_factory=dict)  # device -> region


CHANGES = frozenset({"relocation", "firmware", "seasonal", "replacement", "recalibration"})


def _conditions(benign: Iterable[Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for b in benign:
        out.setdefault(b.kind, set()).add(b.device_id)
    return out


def run(
    spec: EvalSpec, config: BankConfig | None = None, progress: OnTick | None = None
) -> dict[str, Any]:
    """Simulate, detect, open cases, and return the scorecard of both detectors."""
    from simulator.confounders import Confounders
    from simulator.fleet import Fleet

    on = Confounders.parse(spec.confounders)
    fleet = Fleet(
        spec.devices,
        spec.seed,
        spec.failure_rate,
        START_TS,
        spec.days,
        spec.step_s,
        benign_rate=spec.benign_rate,
        confounders=on,
        benign_kinds=benign_kinds(spec.benign),
    )
    conditions = _conditions(fleet.benign())
    source = Source(
        (readings for _, readings in fleet.ticks()),
        {d.device_id: d.model for d in fleet.devices},
        fleet.truth(),
        set().union(*(conditions.get(k, set()) for k in CHANGES)),
        spec.days,
        {
            "devices": spec.devices,
            "days": spec.days,
            "seed": spec.seed,
            "failure_rate": spec.failure_rate,
            "step_s": spec.step_s,
            "confounders": on.names(),
            **(
                {"benign_rate": spec.benign_rate, "benign": spec.benign}
                if (spec.benign_rate, spec.benign) != (0.1, "")
                else {}
            ),
        },
        START_TS,
        conditions,
        fleet.cohorts(),
    )
    return score(source, config, progress)


def benign_kinds(text: str) -> tuple[str, ...]:
    """``--benign``'s comma list as kinds (empty: every kind)."""
    return tuple(k.strip() for k in text.split(",") if k.strip())


def run_offline(
    directory: Path, config: BankConfig | None = None, progress: OnTick | None = None
) -> dict[str, Any]:
    """The scorecard of a folder written by ``kizuki simulate --offline``."""
    return score(offline_source(load_offline(directory)), config, progress)


def score(
    source: Source, config: BankConfig | None = None, progress: OnTick | None = None
) -> dict[str, Any]:
    """Feed ``source`` through both detectors and the dedup rule; figures from the truth."""
    profiles = load_profiles()
    bank = DetectorBank(profiles, source.models.get, config, cohort=source.cohorts.get)
    baseline = StaticThreshold(profiles, source.models.get)
    ledgers = {"kizuki": CaseLedger(), "baseline": CaseLedger()}
    n_values, spent = 0, 0.0
    for readings in source.ticks:
        n_values += sum(len(r.metrics) for r in readings)
        t = time.perf_counter()
        ledgers["kizuki"].feed(bank.update(readings))
        spent += time.perf_counter() - t
        ledgers["baseline"].feed(baseline.update(readings))
        if progress is not None:
            progress(len(readings))
    failing = {t.device_id for t in source.truth}
    healthy = set(source.models) - failing
    benign = source.benign_ids - failing
    accepted = neighbours(profiles)
    pop = Population(
        healthy,
        benign,
        source.days,
        source.start_ts,
        source.conditions,
        lambda t: accepted.get(t.failure_mode, (t.failure_mode,)),
    )
    result: dict[str, Any] = {
        "run": {
            **source.run,
            "failing_devices": len(failing),
            "failures_noticed_in_run": sum(t.notice_ts is not None for t in source.truth),
            "healthy_devices": len(healthy),
            "benign_change_devices": len(benign),
            "metric_values": n_values,
            "kizuki_values_per_s": round(n_values / spent) if spent else None,
        },
        "baseline_rule": BASELINE_RULE,
    }
    for name, ledger in ledgers.items():
        result[name] = scorecard(ledger.cases, source.truth, pop, name == "kizuki")
    result["targets"] = targets(result["kizuki"], result["baseline"])
    return result


# -- several seeds -----------------------------------------------------------------------


def run_seeds(
    spec: EvalSpec,
    seeds: Sequence[int],
    jobs: int | None = None,
    config: BankConfig | None = None,
    progress: OnTick | None = None,
) -> dict[str, Any]:
    """One scorecard per seed (in ``jobs`` processes) and the worst case over them.

    ``jobs`` defaults to ``min(len(seeds), os.cpu_count())``; 1 runs them in turn here.
    """
    specs = [replace(spec, seed=s) for s in seeds]
    jobs = jobs or min(len(specs), os.cpu_count() or 1)
    if jobs <= 1 or len(specs) == 1:
        return combine([run(s, config, progress) for s in specs])
    return combine(_in_processes(specs, jobs, config, progress))


_queue: Queue[int] | None = None  # a worker process's line back to the parent's progress


def _start_worker(queue: Queue[int]) -> None:
    global _queue
    _queue = queue


def _report_tick(readings: int) -> None:
    if _queue is not None:
        _queue.put(readings)


def _run_in_worker(spec: EvalSpec, config: BankConfig | None) -> dict[str, Any]:
    return run(spec, config, _report_tick)


def _in_processes(
    specs: list[EvalSpec], jobs: int, config: BankConfig | None, progress: OnTick | None
) -> list[dict[str, Any]]:
    # spawn, not fork: the parent may run threads (pytest, progress bar)
    ctx = multiprocessing.get_context("spawn")
    queue: Queue[int] = ctx.Queue()
    with ProcessPoolExecutor(jobs, ctx, _start_worker, (queue,)) as pool:
        futures = [pool.submit(_run_in_worker, s, config) for s in specs]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
            _drain(queue, progress)
            if any(f.exception() is not None for f in done):
                pool.shutdown(cancel_futures=True)
                break
    _drain(queue, progress)
    return [f.result() for f in futures]


def _drain(queue: Queue[int], progress: OnTick | None) -> None:
    while True:
        try:
            readings = queue.get_nowait()
        except Empty:
            return
        if progress is not None:
            progress(readings)


# -- an offline folder -------------------------------------------------------------------


def load_offline(directory: Path) -> OfflineRun:
    """``simulator.offline.read_offline``, with every defect as one ``EvaluateError`` line."""
    from simulator.offline import read_offline

    if not directory.is_dir():
        raise EvaluateError(f"{directory}: no such folder")
    try:
        offline = read_offline(directory)
        _check_folder(offline)
    except EvaluateError:
        raise
    except orjson.JSONDecodeError as exc:
        raise EvaluateError(
            f"{directory}: malformed JSON in {_bad_json(directory)}: {exc}"
        ) from None
    except ValueError as exc:
        raise EvaluateError(str(exc)) from None
    except KeyError as exc:
        raise EvaluateError(f"{directory}: manifest.json lacks {exc}") from None
    except (OSError, TypeError, AttributeError) as exc:
        raise EvaluateError(f"{directory}: not a readable offline run ({exc})") from None
    return offline


def _check_folder(offline: OfflineRun) -> None:
    """Check every manifest field the scorecard needs, so a defect shows before scoring."""
    manifest, fleet = offline.manifest, offline.parameters
    for key in ("days", "seed", "failure_rate", "step_s"):
        if not isinstance(fleet[key], int | float):
            raise EvaluateError(f"{offline.directory}: manifest.json fleet.{key} is not a number")
    if not offline.models:
        raise EvaluateError(f"{offline.directory}: manifest.json lists no devices")
    if not isinstance(manifest["window"]["ticks"], int):
        raise EvaluateError(f"{offline.directory}: manifest.json window.ticks is not a count")
    if not isinstance(manifest["counts"]["readings"], int):
        raise EvaluateError(f"{offline.directory}: manifest.json counts.readings is not a count")
    readings = offline.directory / manifest["files"]["readings"]
    if not readings.is_file():
        raise EvaluateError(f"{offline.directory}: readings file {readings.name} is missing")


def _bad_json(directory: Path) -> str:
    for name in ("manifest.json", "truth.json", "benign.json"):
        try:
            orjson.loads((directory / name).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return name
    return "a JSON file"


def offline_source(offline: OfflineRun) -> Source:
    """The readings of ``offline`` regrouped into ticks, with its devices and truth."""
    p = offline.parameters
    failing = {t.device_id for t in offline.truth}
    conditions = _conditions(offline.benign)
    changes = set().union(*(conditions.get(k, set()) for k in CHANGES))
    return Source(
        _offline_ticks(offline),
        offline.models,
        offline.truth,
        changes - failing,
        float(p["days"]),
        {
            "devices": len(offline.models),
            "days": p["days"],
            "seed": p["seed"],
            "failure_rate": p["failure_rate"],
            "step_s": p["step_s"],
            "confounders": p.get("confounders", []),
            "source": str(offline.directory),
        },
        float(p["start_ts"]),
        conditions,
        dict(offline.manifest.get("cohorts", {})),
    )


def _offline_ticks(offline: OfflineRun) -> Iterator[list[Reading]]:
    """The readings regrouped into ticks: a reading more than half a step after the
    latest one so far starts the next tick; older ones (a late batch after an outage,
    clock jitter) join the current one. Each device's readings must be in time order."""
    path = offline.directory / offline.manifest["files"]["readings"]
    half = float(offline.manifest["window"]["step_s"]) / 2.0
    batch: list[Reading] = []
    last: dict[str, float] = {}
    count, now = 0, -math.inf
    try:
        for r in offline.readings():
            count += 1
            if r.ts < last.get(r.device_id, -math.inf):
                raise EvaluateError(f"{path}: reading {count} goes back in time for {r.device_id}")
            last[r.device_id] = r.ts
            if batch and r.ts > now + half:
                yield batch
                batch = []
            now = max(now, r.ts)
            if not all(isinstance(v, int | float) for v in r.metrics.values()):
                raise EvaluateError(f"{path}: reading {count} has a non-numeric value")
            batch.append(r)
    except EvaluateError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise EvaluateError(f"{path}: malformed reading {count + 1}: {exc!r}") from None
    if batch:
        yield batch
    expected = offline.manifest["counts"]["readings"]
    if count != expected:
        raise EvaluateError(f"{path}: {count} readings, the manifest says {expected}")


# -- output ------------------------------------------------------------------------------


def write(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``scorecard.json`` and ``lead_times.png`` (pooled over seeds) into ``out``."""
    from anomaly.plot import plot_runs

    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "scorecard.json", out / "lead_times.png"
    json_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    plot_runs(result.get("per_seed", [result]), png_path)
    return json_path, png_path
