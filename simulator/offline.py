"""Write a fleet to files for offline scoring, and read them back.

A directory holds:

- ``readings.jsonl`` (one ``{"device_id", "ts", "metrics"}`` object per line) or
  ``readings.csv`` (long format: ``ts,device_id,metric,value``), in time order;
- ``truth.json``: the list of ``GroundTruth`` records;
- ``manifest.json``: customers and devices (``Fleet.manifest()``);
- ``fleet.json``: the arguments that regenerate the same fleet.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Literal

import orjson

from ingest.base import Reading
from simulator.fleet import Fleet, GroundTruth

Format = Literal["jsonl", "csv"]


def write_offline(
    fleet: Fleet,
    directory: Path,
    fmt: Format = "jsonl",
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write readings, truth, manifest and parameters into ``directory``; return readings."""
    directory.mkdir(parents=True, exist_ok=True)
    _dump(directory / "truth.json", [dataclasses.asdict(t) for t in fleet.truth()])
    _dump(directory / "manifest.json", fleet.manifest())
    _dump(directory / "fleet.json", fleet.parameters())
    path = directory / f"readings.{fmt}"
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        write = _csv_writer(out) if fmt == "csv" else _jsonl_writer(out)
        for k, (_ts, readings) in enumerate(fleet.ticks(), start=1):
            write(readings)
            written += len(readings)
            if progress is not None:
                progress(k, fleet.n_ticks)
    return written


def _dump(path: Path, data: object) -> None:
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


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
