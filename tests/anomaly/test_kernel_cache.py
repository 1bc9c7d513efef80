"""The compiled kernels' cache follows their sources, wherever numba keeps it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cache_dir(env: dict[str, str]) -> Path:
    """Import the kernels in a fresh interpreter (the stale check runs at import)."""
    code = "from anomaly.kernel import cache_dir; print(cache_dir())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return Path(done.stdout.strip())


def test_a_changed_kernel_source_drops_the_cache_under_numba_cache_dir(tmp_path: Path) -> None:
    # numba keys a cached function by its own file only; a kernel compiled before a change
    # in a module it calls must not be loaded again, also when NUMBA_CACHE_DIR moves the
    # cache out of the package (before, the check looked only beside the sources)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    cache = _cache_dir(env)
    assert cache.parent == tmp_path and (cache / "kernels.sha256").exists()
    kept = cache / "kernel_trend._ramp-177.py313.nbi"
    kept.write_bytes(b"compiled from these sources")
    _cache_dir(env)
    assert kept.exists(), "a cache of the same sources is kept"
    (cache / "kernels.sha256").write_text("the hash of other sources")
    _cache_dir(env)
    assert not kept.exists(), "a cache compiled from other sources is dropped"
    assert (cache / "kernels.sha256").read_text() != "the hash of other sources"
