"""Detector labels: what people teach the detectors, and taking it back.

Only an agent's "false alarm" resolution or an admin's label teaches the detectors (a
customer's vote is evidence for an agent, see ``tickets.feedback``). The engine learns a
label (``to_learn``), stores the detector state from before it (``learnt``), and when the
label is withdrawn (the case reopened) puts that state back (``to_restore``/``restored``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tickets.models import Case, DetectorLabel, utcnow

TEACHERS = ("agent", "admin")


def add(session: Session, case: Case, source: str, at: datetime) -> DetectorLabel:
    """A false-positive label for ``case`` from ``source`` (agent | admin)."""
    label = DetectorLabel(
        case_id=case.id,
        device_id=case.device_id,
        model=case.model,
        failure_mode=case.failure_mode,
        label="false_positive",
        source=source,
        started_at=case.started_at,
        created_at=at,
    )
    session.add(label)
    return label


def live(session: Session, case_id: int) -> bool:
    """Whether the case has a label that is not withdrawn."""
    found = session.scalar(
        select(DetectorLabel.id)
        .where(DetectorLabel.case_id == case_id, DetectorLabel.withdrawn_at.is_(None))
        .limit(1)
    )
    return found is not None


def withdraw(session: Session, case_id: int, at: datetime) -> int:
    """Withdraw every live label of the case; returns how many."""
    result = session.execute(
        update(DetectorLabel)
        .where(DetectorLabel.case_id == case_id, DetectorLabel.withdrawn_at.is_(None))
        .values(withdrawn_at=at)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def to_learn(session_factory: sessionmaker[Session]) -> list[tuple[int, str, str]]:
    """(label id, device, failure mode) of live teacher labels not learnt yet, oldest first."""
    query = (
        select(DetectorLabel.id, DetectorLabel.device_id, DetectorLabel.failure_mode)
        .where(
            DetectorLabel.label == "false_positive",
            DetectorLabel.source.in_(TEACHERS),
            DetectorLabel.undo.is_(None),
            DetectorLabel.withdrawn_at.is_(None),
        )
        .order_by(DetectorLabel.id)
    )
    with session_factory() as session:
        return [(int(i), str(d), str(m)) for i, d, m in session.execute(query)]


def learnt(session_factory: sessionmaker[Session], label_id: int, undo: dict[str, Any]) -> None:
    """Record that the label was learnt, with the state ``restore`` needs."""
    with session_factory.begin() as session:
        session.execute(
            update(DetectorLabel).where(DetectorLabel.id == label_id).values(undo=_encode(undo))
        )


def to_restore(session_factory: sessionmaker[Session]) -> list[tuple[int, str, dict[str, Any]]]:
    """(label id, device, undo) of withdrawn labels whose learning is not undone yet."""
    query = (
        select(DetectorLabel.id, DetectorLabel.device_id, DetectorLabel.undo)
        .where(DetectorLabel.withdrawn_at.is_not(None), DetectorLabel.restored_at.is_(None))
        .order_by(DetectorLabel.id.desc())  # newest first: undo in reverse order
    )
    with session_factory() as session:
        return [(int(i), str(d), _decode(u or {})) for i, d, u in session.execute(query)]


def restored(session_factory: sessionmaker[Session], label_id: int) -> None:
    """Record that a withdrawn label's learning was undone."""
    with session_factory.begin() as session:
        session.execute(
            update(DetectorLabel).where(DetectorLabel.id == label_id).values(restored_at=utcnow())
        )


NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _encode(value: Any) -> Any:
    """JSON that PostgreSQL takes: non-finite numbers as the strings "nan", "inf", "-inf"."""
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return NON_FINITE.get(value, value) if isinstance(value, str) else value
