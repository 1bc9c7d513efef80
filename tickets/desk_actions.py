"""The service desk's case actions, mixed into ``tickets.service.CaseService``: write to
the customer, and link the case to a ticket in another helpdesk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tickets import conversation, lifecycle
from tickets.models import Case


class DeskActions:
    """``write`` and ``link``; the host class provides ``_act`` (load, lock, act, commit)."""

    def _act(self, case_id: int, action: Callable[[Session, Case, datetime], Any]) -> Case:
        raise NotImplementedError

    def write(self, case_id: int, actor: str, text: str, signature: str = "") -> Case:
        """Write to the case's customer on their channel (``tickets.conversation.post``)."""
        return self._act(
            case_id, lambda s, c, now: conversation.post(s, c, actor, text, now, signature)
        )

    def link(self, case_id: int, actor: str, external_ref: str) -> Case:
        """Record the case's id in another helpdesk ('' unlinks)."""

        def act(session: Session, case: Case, now: datetime) -> None:
            before, case.external_ref, case.updated_at = case.external_ref, external_ref, now
            lifecycle.log(
                session, case, actor, "linked", now, external_ref=external_ref, before=before
            )

        return self._act(case_id, act)
