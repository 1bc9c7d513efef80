"""Write a fleet to files for offline scoring, and read them back.

A directory written by ``write_offline`` (``kizuki simulate --offline DIR``) holds:

- ``readings.jsonl`` (one ``{"device_id", "ts", "metrics"}`` object per line) or
  ``readings.csv`` (long format: ``ts,device_id,metric,value``), in time order;
- ``truth.json``: the injected failures, a list of ``GroundTruth`` objects
  (``device_id, model, failure_mode, kind, onset_ts, notice_ts, metric, variant``);
- ``benign.json``: the benign changes, which must NOT open a case, a list of
  ``BenignTruth`` objects (``device_id, model, kind, metric, start_ts, end_ts,
  shift``): ``metric``'s level moves by ``shift`` (profile units), linearly from
  ``start_ts`` to ``end_ts``, a step when they are equal; ``kind`` is relocation,
  firmware or seasonal (``simulator.benign``);
- ``manifest.json``, written last (a directory without it is incomplete)::

    {"format": "kizuki-simulate-offline", "version": 1,
     "fleet": {"n_devices", "seed", "failure_rate", "benign_rate", "benign_kinds",
               "start_ts", "days", "step_s", "models", "realism", "forced_failures"
               [, "preset", "end_ts"]},
     "window": {"start_ts", "end_ts", "step_s", "ticks"},
     "files": {"readings", "readings_format", "truth", "benign"},
     "counts": {"devices", "readings", "failures", "failures_noticed", "benign_changes"},
     "cohorts": {device_id: region}, "customers": [...], "devices": [...]}

  ``fleet`` holds the ``Fleet`` arguments (``rebuild_fleet`` makes the same fleet from
  them); ``customers`` and ``devices`` are ``Fleet.manifest()``, the format
  ``tickets.registry.import_manifest`` reads. ``window.end_ts`` is exclusive: the
  last reading is at ``end_ts - step_s``.

``read_offline(DIR)`` reads it all back as an ``OfflineRun``.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from core.readings import Reading
from simulator.benign import BenignTruth
from simulator.confounders import Confounders
from simulator.fleet import Fleet, GroundTruth
from simulator.signals import Realism

Format = Literal["jsonl", "csv"]
FORMAT_NAME, FORMAT_VERSION = "kizuki-simulate-offline", 1


def write_offline(
    fleet: Fleet,
    directory: Path,
    fmt: Format = "jsonl",
    progress: Callable[[int, int, int], None] | None = None,
) -> int:
    """Write readings, truth, benign changes and the manifest into ``directory``.

    Returns the number of readings. ``progress(ticks_done, ticks_total, readings)``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    truth, benign = fleet.truth(), fleet.benign()
    _dump(directory / "truth.json", [dataclasses.asdict(t) for t in truth])
    _dump(directory / "benign.json", [dataclasses.asdict(b) for b in benign])
    written = 0
    with (directory / f"readings.{fmt}").open("w", encoding="utf-8", newline="") as out:
        write = _csv_writer(out) if fmt == "csv" else _jsonl_writer(out)
        for k, (_ts, readings) in enumerate(fleet.ticks(), start=1):
            write(readings)
            written += len(readings)
            if progress is not None:
                progress(k, fleet.n_ticks, written)
    _dump(directory / "manifest.json", offline_manifest(fleet, fmt, written))
    return written


def offline_manifest(fleet: Fleet, fmt: Format, readings: int) -> dict[str, Any]:
    """The ``manifest.json`` of an offline directory (see the module docstring)."""
    truth = fleet.truth()
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "fleet": fleet.parameters(),
        "window": {
            "start_ts": fleet.start_ts,
            "end_ts": fleet.end_ts,
            "step_s": fleet.step_s,
            "ticks": fleet.n_ticks,
        },
        "files": {
            "readings": f"readings.{fmt}",
            "readings_format": fmt,
            "truth": "truth.json",
            "benign": "benign.json",
        },
        "counts": {
            "devices": len(fleet.devices),
            "readings": readings,
            "failures": len(truth),
            "failures_noticed": sum(t.notice_ts is not None for t in truth),
            "benign_changes": len(fleet.benign()),
        },
        "cohorts": fleet.cohorts(),
        **fleet.manifest(),
    }


def _dump(path: Path, data: object) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def _jsonl_writer(out: IO[str]) -> Callable[[list[Reading]], None]:
    def write(readings: list[Reading]) -> None:
        out.writelines(
            orjson.dumps({"device_id": r.device_id, "ts": r.ts, "metrics": r.metrics}).decode()
            + "\n"
            for r in readings
        )

    return write


def _csv_writer(out: IO[str]) -> Callable[[list[Reading]], None]:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("ts", "device_id", "metric", "value"))

    def write(readings: list[Reading]) -> None:
        writer.writerows(
            (r.ts, r.device_id, name, value) for r in readings for name, value in r.metrics.items()
        )

    return write


def read_readings(path: Path) -> Iterator[Reading]:
    """Readings from a ``readings.jsonl`` or ``readings.csv`` written by ``write_offline``."""
    if path.suffix == ".csv":
        yield from _read_csv(path)
        return
    with path.open("rb") as lines:
        for line in lines:
            row = orjson.loads(line)
            yield Reading(row["device_id"], float(row["ts"]), row["metrics"])


def _read_csv(path: Path) -> Iterator[Reading]:
    with path.open(encoding="utf-8", newline="") as src:
        rows = csv.reader(src)
        next(rows)
        current: tuple[str, str] | None = None
        metrics: dict[str, float] = {}
        for ts, device_id, name, value in rows:
            if (ts, device_id) != current:
                if current is not None:
                    yield Reading(current[1], float(current[0]), metrics)
                current, metrics = (ts, device_id), {}
            metrics[name] = float(value)
        if current is not None:
            yield Reading(current[1], float(current[0]), metrics)


def read_truth(path: Path) -> list[GroundTruth]:
    """The ``truth.json`` written by ``write_offline``."""
    return [GroundTruth(**row) for row in orjson.loads(path.read_bytes())]


def read_benign(path: Path) -> list[BenignTruth]:
    """The ``benign.json`` written by ``write_offline``."""
    return [BenignTruth(**row) for row in orjson.loads(path.read_bytes())]


@dataclass(frozen=True, slots=True)
class OfflineRun:
    """An offline directory, read back: what a scorer needs."""

    directory: Path
    manifest: dict[str, Any]
    truth: list[GroundTruth]
    benign: list[BenignTruth]

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.manifest["fleet"])

    @property
    def models(self) -> dict[str, str]:
        """Device id -> product model."""
        return {d["id"]: d["model"] for d in self.manifest["devices"]}

    def readings(self) -> Iterator[Reading]:
        return read_readings(self.directory / self.manifest["files"]["readings"])

    def fleet(self) -> Fleet:
        """The same fleet, rebuilt from its parameters."""
        return rebuild_fleet(self.parameters)


def read_offline(directory: Path) -> OfflineRun:
    """Read an offline directory; ``ValueError`` if it is not one or is incomplete."""
    path = directory / "manifest.json"
    if not path.is_file():
        raise ValueError(f"{directory} has no manifest.json: not a complete offline run")
    manifest = orjson.loads(path.read_bytes())
    if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a {FORMAT_NAME} v{FORMAT_VERSION} manifest")
    files = manifest["files"]
    truth = read_truth(directory / files["truth"])
    return OfflineRun(directory, manifest, truth, read_benign(directory / files["benign"]))


def rebuild_fleet(parameters: Mapping[str, Any]) -> Fleet:
    """The fleet ``Fleet.parameters()`` describes (default profiles and contacts)."""
    p = parameters
    if p.get("preset") == "demo":
        fleet = Fleet.demo(p["n_devices"], p["seed"], p["end_ts"], p["days"], p["step_s"])
    elif p.get("forced_failures"):
        raise ValueError("this fleet was given explicit failure plans; they are not recorded")
    else:
        realism = Realism(**{**p["realism"], "outage_hours": tuple(p["realism"]["outage_hours"])})
        on = Confounders.parse(",".join(p.get("confounders", [])) or "none")
        fleet = Fleet(
            p["n_devices"],
            p["seed"],
            p["failure_rate"],
            p["start_ts"],
            p["days"],
            p["step_s"],
            benign_rate=p["benign_rate"],
            realism=realism,
            confounders=on,
            benign_kinds=tuple(p.get("benign_kinds", ())),
        )
    if fleet.parameters()["models"] != p["models"]:
        raise ValueError(f"this fleet used other device profiles: {p['models']}")
    return fleet
