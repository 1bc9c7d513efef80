"""What operations watch of tickets/: the outbox backlog and whether the case DB answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from tickets.models import Notification

UNSENT = ("pending", "sending")


@dataclass(frozen=True, slots=True)
class Backlog:
    """Notifications not yet sent, and when the oldest of them was written."""

    unsent: int
    oldest_created_at: datetime | None

    def oldest_age_s(self, now: datetime) -> float:
        """Seconds the oldest unsent notice has waited (0 when there is none)."""
        if self.oldest_created_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_created_at).total_seconds())


def outbox_backlog(session_factory: sessionmaker[Session]) -> Backlog:
    """Count and age of the outbox rows still to send (pending, or claimed and sending)."""
    with session_factory() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(Notification.created_at)).where(
                Notification.status.in_(UNSENT)
            )
        ).one()
    return Backlog(int(count), oldest)  # min() keeps the column's type: aware UTC


def cases_db_answers(session_factory: sessionmaker[Session]) -> bool:
    """True if the case database answers a trivial query."""
    try:
        with session_factory() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "does not answer"
        return False
