"""What the case database says about open problems, for the engine's start-up
reconciliation (``kizuki.detection.Detection.reconcile``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.cases import OPEN_STATUSES
from core.events import AnomalyEvent, Explanation, Severity
from tickets.cases import as_datetime
from tickets.models import Case


@dataclass(frozen=True, slots=True)
class OpenCase:
    device_id: str
    model: str
    failure_mode: str
    severity: str
    started_at: datetime
    healthy: bool  # a recovery was recorded already

    def recovery(self, ts: float) -> AnomalyEvent:
        """The recovery event that was lost for this case, stamped ``ts`` (telemetry)."""
        why = Explanation(
            metric="", unit="", expected=0.0, observed=0.0, text="recovered (found at start-up)"
        )
        severity: Severity = self.severity  # type: ignore[assignment]
        return AnomalyEvent(
            device_id=self.device_id,
            model=self.model,
            failure_mode=self.failure_mode,
            kind="recovery",
            ts=ts,
            started_at=self.started_at.timestamp(),
            severity=severity,
            score=0.0,
            why=why,
            extra={"reconciled": True},
        )


def open_cases(session_factory: sessionmaker[Session]) -> dict[tuple[str, str], OpenCase]:
    """(device, failure mode) -> the open case."""
    with session_factory() as session:
        rows = session.scalars(select(Case).where(Case.status.in_(OPEN_STATUSES))).all()
        return {
            (c.device_id, c.failure_mode): OpenCase(
                c.device_id,
                c.model,
                c.failure_mode,
                c.severity,
                c.started_at,
                c.healthy_since is not None,
            )
            for c in rows
        }


def covered(
    session_factory: sessionmaker[Session], device_id: str, mode: str, started_at: float
) -> bool:
    """Whether some case (any status) already took an anomaly of this failure mode at or
    after ``started_at``: the detection has had its case."""
    with session_factory() as session:
        found = session.scalar(
            select(Case.id)
            .where(
                Case.device_id == device_id,
                Case.failure_mode == mode,
                Case.last_anomaly_at >= as_datetime(started_at),
            )
            .limit(1)
        )
    return found is not None
