"""The dedup stage before delivery: don't tell a customer about a problem that is over.

Rows of one case can pile up while a customer's quiet hours defer them (or while a
channel retries). Before sending, a row is dropped when it no longer helps:

* a "detected"/"update" notice whose case already has a later "all clear" queued;
* an "all clear" when the customer was never told about the problem (no earlier notice
  of the case was sent). While an earlier notice is still queued the all-clear waits for
  it to settle, so the two are judged in order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tickets.delivery import Decision
from tickets.models import Notification

SETTLE_S = 1.0


def coalesce(session: Session, row: Notification, now: datetime) -> Decision | None:
    """A skip/defer decision when the row is superseded or premature, else None."""
    earlier = select(Notification).where(
        Notification.case_id == row.case_id,
        Notification.customer_id == row.customer_id,
        Notification.id < row.id,
    )
    if row.kind in ("detected", "update"):
        later_all_clear = session.scalar(
            select(func.count()).where(
                Notification.case_id == row.case_id,
                Notification.customer_id == row.customer_id,
                Notification.id > row.id,
                Notification.kind == "all_clear",
            )
        )
        if later_all_clear:
            return Decision("skip", "superseded: the problem was over before this was sent")
        return None
    if row.kind != "all_clear":
        return None
    previous = list(session.scalars(earlier))
    queued = [_settles_at(n) for n in previous if n.status in ("pending", "sending")]
    if queued:
        until = max(max(queued), now) + timedelta(seconds=SETTLE_S)
        return Decision("defer", "waiting for this case's earlier notices", until=until)
    if not any(n.status == "sent" for n in previous):
        return Decision("skip", "the customer was never told about the problem")
    return None


def _settles_at(row: Notification) -> datetime:
    if row.status == "sending" and row.lease_until is not None:
        return row.lease_until
    return row.next_attempt_at
