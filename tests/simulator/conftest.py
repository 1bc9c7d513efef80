"""Small seeded fleets shared by the simulator tests (built once per session)."""

from __future__ import annotations

import pytest

from simulator.fleet import Fleet

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    """A mixed fleet: some failures, some benign changes, the default dropouts."""
    return Fleet(120, seed=11, failure_rate=0.2, start_ts=START, days=20, benign_rate=0.3)


@pytest.fixture(scope="session")
def failing_fleet() -> Fleet:
    """Every device fails, so every failure kind and variant shows up."""
    return Fleet(240, seed=5, failure_rate=1.0, start_ts=START, days=30)
