"""Progress of ``kizuki simulate`` when its output goes to a file or a pipe, not a terminal."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.progress import PlainProgress
from tests.simulator.brokers import Broker
from tests.simulator.conftest import START

KIZUKI = str(Path(sys.executable).parent / "kizuki")
LINE = re.compile(
    r"^(\w+): ([\d,]+)/([\d,]+) ticks \((\d+)%\), ([\d,]+) readings, "
    r"([\d,]+) readings/s, ([\d.]+) s$"
)


def progress_lines(stderr: str) -> list[tuple[str, int, int, int, int]]:
    """(label, ticks done, ticks total, percent, readings) of every progress line."""
    found = []
    for line in stderr.splitlines():
        if m := LINE.match(line):
            label, done, total, pct, readings = m.groups()[:5]
            found.append((label, *(int(x.replace(",", "")) for x in (done, total, pct, readings))))
    return found  # type: ignore[return-value]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``kizuki simulate`` as a user runs it, stdout and stderr captured (no terminal)."""
    cmd = [KIZUKI, "simulate", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_offline_prints_a_line_at_every_tenth(tmp_path: Path) -> None:
    result = run(
        "--devices", "20", "--days", "2", "--start", str(START), "--offline", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    lines = progress_lines(result.stderr)
    assert {pct for *_, pct, _ in lines} >= {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
    assert all(label == "generating" and total == 288 for label, _, total, _, _ in lines)
    done = [d for _, d, *_ in lines]
    assert done == sorted(done) and done[-1] == 288
    written = len((tmp_path / "readings.jsonl").read_bytes().splitlines())
    assert lines[-1][4] == written  # the last line's readings are what was written
    assert f"wrote {written:,} readings" in result.stdout


@pytest.fixture
def broker(port: int, tmp_path: Path) -> Iterator[Broker]:
    own = Broker(port, tmp_path)
    own.start()
    yield own
    own.stop(signal.SIGKILL)


def test_publishing_prints_progress_lines_too(broker: Broker) -> None:
    result = run("--devices", "5", "--days", "0.5", "--url", broker.url, "--qos", "2")
    assert result.returncode == 0, result.stderr
    lines = progress_lines(result.stderr)
    assert lines and all(label == "publishing" for label, *_ in lines)
    assert lines[-1][1:4] == (72, 72, 100)
    summary = re.search(r"\(([\d,]+) readings, 72 ticks\)", result.stdout)
    assert summary is not None
    assert lines[-1][4] == int(summary.group(1).replace(",", ""))


def test_a_line_every_five_seconds_between_tenths() -> None:
    now = [0.0]
    out = io.StringIO()
    report = PlainProgress("publishing", out, every_s=5.0, clock=lambda: now[0])
    for tick in range(1, 51):  # 50 of 1,000 ticks, one simulated second apart
        now[0] = float(tick)
        report(tick, 1000, tick * 10)
    lines = out.getvalue().splitlines()
    assert [line.split(" ticks")[0] for line in lines] == [
        f"publishing: {t}/1,000" for t in range(5, 51, 5)
    ]
    assert lines[-1] == "publishing: 50/1,000 ticks (5%), 500 readings, 10 readings/s, 50.0 s"
