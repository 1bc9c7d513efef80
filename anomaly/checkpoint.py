"""Detector checkpoints: one ``.npz`` file, a JSON header plus the state columns.

Written atomically (a temporary file, then a rename), so a crash mid-save leaves the
previous checkpoint intact. The arrays round-trip bit for bit, so a restored bank
scores exactly as the one that was saved. Format 1 (JSON, before the compiled bank)
is refused with a clear message; the engine then starts fresh. Format 2 (one detector,
no kinds recorded) is read as holding the ``stream`` kind version 1; from format 3 the
header names the detector kinds and versions it holds (``anomaly.kinds``).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT_VERSION = 3
READABLE = (2, 3)
_HEADER = "__header__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message says why."""


def write_checkpoint(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": CHECKPOINT_VERSION, **header})
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        columns: dict[str, Any] = {_HEADER: np.array(text), **arrays}
        np.savez(out, **columns)
    os.replace(tmp, path)


def read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a checkpoint of this version (format 1 or damaged)")
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data[_HEADER]))
        if header.get("version") not in READABLE:
            raise CheckpointError(f"{path}: checkpoint version {header.get('version')!r}")
        arrays = {k: data[k] for k in data.files if k != _HEADER}
    return header, arrays
