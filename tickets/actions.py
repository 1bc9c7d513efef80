"""What agents do to a case (the API's lifecycle calls), as a base of ``CaseService``.

``resolve`` takes a resolution code and a note and tells the customer what that code and
the device's state call for (``tickets.resolution``); ``reopen`` withdraws the labels the
resolution taught the detectors; ``review`` settles a customer's disagreement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, utc
from core.metrics import CASES_RESOLVED
from core.profiles import DeviceProfile
from tickets import labels, lifecycle, resolution
from tickets.fit import check_fit
from tickets.lifecycle import InvalidTransition
from tickets.models import Case
from tickets.outbox import enqueue
from tickets.routing import need_of
from tickets.settings import TicketsConfig


class CaseActions:
    """The case lifecycle for people; ``CaseService`` adds the events from detection."""

    session_factory: sessionmaker[Session]
    profiles: Mapping[str, DeviceProfile]
    settings: TicketsConfig
    clock: Clock

    def _now(self) -> datetime:
        return utc(self.clock())

    def _resolve(
        self,
        session: Session,
        case: Case,
        actor: str,
        at: datetime,
        code: str,
        note: str,
        notify: bool = True,
        **detail: Any,
    ) -> None:
        """Resolve with ``code``; queue the customer message the code and state call for."""
        out = resolution.still_out_of_range(case)
        lifecycle.transition(
            session,
            case,
            "resolve",
            actor,
            at,
            code=code,
            note=note,
            device_out_of_range=out,
            **detail,
        )
        case.resolution_code, case.resolution_note = code, note
        case.review_state = None  # a person (or the device's recovery) has settled it
        article = resolution.customer_article(code, out)
        if notify and article is not None:
            # the dispatcher drops it if the customer never heard of the case
            enqueue(session, self.settings, case, "all_clear", self.profiles, at, article=article)
        if code == "false_alarm":
            labels.add(session, case, "agent", at)

    def acknowledge(self, case_id: int, actor: str) -> Case:
        """open -> acknowledged."""
        return self._act(
            case_id, lambda s, c, now: lifecycle.transition(s, c, "acknowledge", actor, now)
        )

    def start(self, case_id: int, actor: str) -> Case:
        """open/acknowledged -> in_progress."""
        return self._act(case_id, lambda s, c, now: lifecycle.transition(s, c, "start", actor, now))

    def resolve(
        self,
        case_id: int,
        actor: str,
        code: str,
        note: str,
        *,
        confirm: bool = False,
        notify: bool = True,
    ) -> Case:
        """Any open status -> resolved with a resolution code and a note.

        Raises ``InvalidResolution`` (unknown code, no note) and ``NeedsConfirmation`` (a
        fix while telemetry is still out of range, unless ``confirm``). ``notify=False``
        sends the customer nothing.
        """

        def act(session: Session, case: Case, now: datetime) -> None:
            resolution.check(case, code, note, confirm)
            self._resolve(session, case, actor, now, code, note.strip(), notify)

        case = self._act(case_id, act)
        CASES_RESOLVED.inc()
        return case

    def close(self, case_id: int, actor: str) -> Case:
        """resolved -> closed."""
        return self._act(case_id, lambda s, c, now: lifecycle.transition(s, c, "close", actor, now))

    def reopen(self, case_id: int, actor: str, reason: str = "") -> Case:
        """resolved/closed -> open (refused while another case is open for the same problem);
        a "false alarm" the resolution taught the detectors is withdrawn."""

        def act(session: Session, case: Case, now: datetime) -> None:
            lifecycle.transition(session, case, "reopen", actor, now, reason=reason)
            case.resolution_code, case.resolution_note = None, ""
            if labels.withdraw(session, case.id, now):
                lifecycle.log(session, case, actor, "label_withdrawn", now)

        return self._act(case_id, act)

    def review(self, case_id: int, actor: str, note: str) -> Case:
        """Settle "customer disagrees": the agent looked at the customer's feedback."""

        def act(session: Session, case: Case, now: datetime) -> None:
            if case.review_state is None:
                raise InvalidTransition(f"case {case.id} has no customer feedback to review")
            before, case.review_state, case.updated_at = case.review_state, None, now
            lifecycle.log(session, case, actor, "reviewed", now, review_from=before, note=note)

        return self._act(case_id, act)

    def label(self, case_id: int, actor: str, note: str) -> Case:
        """An admin's label: this case was a false alarm; the detectors learn it."""

        def act(session: Session, case: Case, now: datetime) -> None:
            if labels.live(session, case.id):
                raise InvalidTransition(f"case {case.id} is already labelled a false alarm")
            labels.add(session, case, "admin", now)
            lifecycle.log(session, case, actor, "labelled", now, note=note)

        return self._act(case_id, act)

    def unlabel(self, case_id: int, actor: str, note: str) -> Case:
        """Withdraw the case's false-alarm label: the detectors go back to before it."""

        def act(session: Session, case: Case, now: datetime) -> None:
            if not labels.withdraw(session, case.id, now):
                raise InvalidTransition(f"case {case.id} has no false-alarm label to withdraw")
            lifecycle.log(session, case, actor, "label_withdrawn", now, note=note)

        return self._act(case_id, act)

    def assign(self, case_id: int, agent_id: int | None, actor: str, override: str = "") -> Case:
        """Assign to an active agent, or unassign with ``agent_id=None``. An agent who
        lacks the case's product line, skill or language is refused (``AgentMismatch``)
        unless ``override`` says why; the reason goes on the timeline."""
        reason = f"assigned by {actor}" if agent_id is not None else f"unassigned by {actor}"

        def act(session: Session, case: Case, now: datetime) -> None:
            missing = check_fit(session, case, agent_id, need_of(case, self.profiles), override)
            lifecycle.assign(session, case, agent_id, actor, now, reason)
            if missing:
                lifecycle.log(
                    session,
                    case,
                    actor,
                    "assign_override",
                    now,
                    lacks=missing,
                    reason=override.strip(),
                )

        return self._act(case_id, act)

    def add_note(self, case_id: int, actor: str, text: str) -> Case:
        """A free-text note on the timeline."""

        def act(session: Session, case: Case, now: datetime) -> None:
            case.updated_at = now
            lifecycle.log(session, case, actor, "note", now, text=text)

        return self._act(case_id, act)

    def _act(self, case_id: int, action: Callable[[Session, Case, datetime], Any]) -> Case:
        with self.session_factory.begin() as session:
            case = lifecycle.load(session, case_id)
            action(session, case, self._now())
            session.flush()
            return case
