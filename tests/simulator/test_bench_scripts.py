"""The bench scripts start the way their docstrings say (``python bench/X.py``).

Run as a script, ``bench/`` is ``sys.path[0]`` and ``bench/ingest.py`` or
``bench/simulator.py`` would shadow the package of the same name.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", ["simulator.py", "detectors.py", "stall.py", "scale.py"])
@pytest.mark.parametrize("cwd", [BENCH.parent, BENCH])
def test_bench_script_imports_the_packages_not_its_neighbours(script: str, cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")
