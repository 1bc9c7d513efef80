"""The detector kinds a DetectorBank is built from, by name and version.

Every kind keeps its state in rows, one per device of one (product model, metric), behind
:class:`anomaly.base.BlockKind` (``add``, ``state_dict``, ``load_state_dict``). A
``filter`` kind (:class:`anomaly.base.BlockFilter`) runs the detector behind it, value
by value, on what it lets through; the ``detector`` kind
(:class:`anomaly.base.BlockDetector`) scores values and raises the alarm edges (its
``snaps`` carry the numbers of an event). The bank runs, per metric, the filter (at
most one today: chaining filters is not built) and the detector behind it.

A checkpoint records the kinds and versions it holds (``{"stream": 2, "cohort": 1}``).
Loading restores each kind whose name and version match, and starts the others fresh
next to it: a new kind, or a new version of one, adds state instead of discarding the
checkpoint. To add a filter: write it, then ``register(Kind("name", 1, "filter", make))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from anomaly.base import BlockKind
from anomaly.block import StreamBlock
from anomaly.cohort import CohortConfig, CohortFilter
from anomaly.stream import StreamConfig
from core.profiles import MetricSpec

Role = Literal["filter", "detector"]


@dataclass(frozen=True, slots=True)
class Kind:
    """One registered kind: ``make(spec, config)`` builds its block for one metric."""

    name: str
    version: int
    role: Role
    make: Callable[[MetricSpec, Any], BlockKind]


REGISTRY: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add (or replace) a kind; returns it."""
    REGISTRY[kind.name] = kind
    return kind


def filters() -> list[Kind]:
    """The filter kinds (at most one: the bank does not chain filters yet)."""
    found = [k for k in REGISTRY.values() if k.role == "filter"]
    if len(found) > 1:
        raise RuntimeError(f"at most one filter kind can be registered, found {len(found)}")
    return found


def detector() -> Kind:
    """The detector kind (the bank runs one; its snapshots explain the events)."""
    found = [k for k in REGISTRY.values() if k.role == "detector"]
    if len(found) != 1:
        raise RuntimeError(f"one detector kind must be registered, found {len(found)}")
    return found[0]


def versions() -> dict[str, int]:
    """Name -> version of every registered kind, as a checkpoint records them."""
    return {k.name: k.version for k in REGISTRY.values()}


def _stream(spec: MetricSpec, cfg: Any) -> StreamBlock:
    return StreamBlock(spec, cfg.stream if hasattr(cfg, "stream") else StreamConfig())


def _cohort(spec: MetricSpec, cfg: Any) -> CohortFilter:
    return CohortFilter(cfg.cohort if hasattr(cfg, "cohort") else CohortConfig())


register(Kind(CohortFilter.name, CohortFilter.version, "filter", _cohort))
register(Kind(StreamBlock.name, StreamBlock.version, "detector", _stream))
