"""What the scorecard counts as a misattributed case on a device with two failures."""

from __future__ import annotations

from anomaly.scorecard import Case, Population, scorecard
from simulator.fleet import GroundTruth

H = 3600.0


def _misattributed(cases: list[Case]) -> int:
    truth = [
        GroundTruth("d1", "pump-p3", "bearing_wear", "gradual", 0.0, 100 * H),
        GroundTruth("d1", "pump-p3", "impeller_clog", "gradual", 40 * H, 90 * H),
    ]
    pop = Population(healthy_ids={"d2"}, benign_ids=set(), days=10.0)
    return int(scorecard(cases, truth, pop)["misattributed_cases"])


def test_a_case_naming_the_devices_second_fault_once_it_has_begun_is_not_misattributed() -> None:
    cases = [Case("d1", "bearing_wear", 10 * H), Case("d1", "impeller_clog", 50 * H)]
    # the clog's case opens inside the bearing's window: a second fault, rightly named
    assert _misattributed(cases) == 0


def test_a_case_naming_a_fault_the_device_does_not_have_yet_is_misattributed_once() -> None:
    early = Case("d1", "impeller_clog", 20 * H)  # before the clog began
    overload = Case("d1", "motor_overload", 60 * H)  # inside both windows: counted once
    assert _misattributed([Case("d1", "bearing_wear", 10 * H), early, overload]) == 2
