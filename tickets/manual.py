"""Cases opened by hand: a customer calls about a device that detection did not flag (a
silent pump, a noise no sensor hears).

The case goes through the same path as a detected one (``CaseService.handle``: one open
case per device and failure mode, routing, the customer's notice), marked as opened by
a person: its explanation says "manual" and carries the agent's note.
"""

from __future__ import annotations

from typing import Any

from core.clock import utc
from core.events import SEVERITIES, AnomalyEvent, Explanation
from tickets import lifecycle
from tickets.lifecycle import CaseError
from tickets.models import Device


class UnknownDevice(CaseError, LookupError):
    """No registered device with that id."""


def open_by_hand(
    service: Any, device_id: str, failure_mode: str, severity: str, actor: str, note: str
) -> int:
    """Open (or add to) the case for ``device_id``/``failure_mode``; returns its id."""
    if severity not in SEVERITIES:
        raise CaseError(f"severity must be one of {', '.join(SEVERITIES)}")
    with service.session_factory() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise UnknownDevice(f"no device {device_id!r}")
        model = device.model
    now = service.clock()
    why = Explanation("", "", 0.0, 0.0, detectors=("manual",), text=note)
    event = AnomalyEvent(
        device_id=device_id,
        model=model,
        failure_mode=failure_mode,
        kind="anomaly",
        ts=now,
        started_at=now,
        severity=severity,
        score=0.0,
        why=why,
    )
    outcome = service.handle(event)
    if outcome.case_id is None:
        raise CaseError(f"no case opened: {outcome.action} ({outcome.detail})")
    with service.session_factory.begin() as session:
        case = lifecycle.load(session, outcome.case_id)
        if outcome.action == "opened":
            case.explanation = {"detectors": ["manual"], "text": note}
        lifecycle.log(session, case, actor, "opened_by_hand", utc(now), note=note)
    return int(outcome.case_id)
