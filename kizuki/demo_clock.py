"""The demo's SLA clocks.

The demo replays days of a fleet's history in about a minute, on a clock that runs with
the telemetry (:class:`core.clock.ReplayClock`) and then, once the replay is over,
follows the wall clock. The cases it opens carry SLA deadlines on that clock, so by the
end of the replay every one of them would read "overdue by 2d": their whole response
window went by in seconds, while nobody could answer. An SLA measures how long the team
takes, so in the demo it starts when the team can act: when the replay ends, each case
still open gets the full window of its severity from that moment (a ``sla_restarted``
line on its timeline says so). From then on the server and the page's countdown both follow the
same clock at the wall's pace.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.cases import OPEN_STATUSES
from tickets.cases import sla_due
from tickets.models import Case, CaseEvent
from tickets.settings import TicketsConfig


def restart_sla_clocks(
    session_factory: sessionmaker[Session], settings: TicketsConfig, live_at: datetime
) -> int:
    """Give every open case opened before ``live_at`` the SLA window of its severity
    from ``live_at`` (once); returns how many cases were changed."""
    changed = 0
    with session_factory.begin() as session:
        cases = session.scalars(
            select(Case).where(Case.status.in_(OPEN_STATUSES), Case.opened_at < live_at)
        )
        for case in cases:
            if any(event.kind == "sla_restarted" for event in case.events):
                continue  # once per case
            due = sla_due(settings, case.severity, live_at)
            session.add(
                CaseEvent(
                    case_id=case.id,
                    at=live_at,
                    actor="kizuki",
                    kind="sla_restarted",
                    detail={"reason": "demo_replay", "was": case.sla_due_at.isoformat()},
                )
            )
            case.sla_due_at = due
            changed += 1
    return changed
