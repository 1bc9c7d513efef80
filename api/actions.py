"""Case actions go through the case service, so its rules and timeline stay in one place.

Exceptions::

    ActionError   the action cannot be done (status 404, 409 or 422, with a reason)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from api.context import AppContext
from tickets.conversation import ConversationError
from tickets.lifecycle import CaseError
from tickets.resolution import InvalidResolution

PageAction = Literal[
    "acknowledge",
    "assign",
    "start",
    "note",
    "write",
    "link",
    "resolve",
    "close",
    "reopen",
    "review",
]
"""What an agent can do to a case from its page (labels are the admin API's)."""


class ActionError(Exception):
    """A case action that was refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, detail: str, cause: Exception | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.cause = cause  # the case service's exception, for a page to word it


def _calls(
    service: Any, case_id: int, actor: str, kw: dict[str, Any]
) -> dict[str, Callable[[], Any]]:
    note = str(kw.get("note", ""))
    return {
        "acknowledge": lambda: service.acknowledge(case_id, actor),
        "start": lambda: service.start(case_id, actor),
        "assign": lambda: service.assign(
            case_id, kw.get("agent_id"), actor, override=str(kw.get("override", ""))
        ),
        "note": lambda: service.add_note(case_id, actor, str(kw.get("text", ""))),
        "link": lambda: service.link(case_id, actor, str(kw.get("external_ref", ""))),
        "write": lambda: service.write(
            case_id, actor, str(kw.get("text", "")), str(kw.get("signature", ""))
        ),
        "resolve": lambda: service.resolve(
            case_id, actor, str(kw.get("code", "")), note, confirm=bool(kw.get("confirm"))
        ),
        "review": lambda: service.review(case_id, actor, note),
        "label": lambda: service.label(case_id, actor, note),
        "unlabel": lambda: service.unlabel(case_id, actor, note),
        "close": lambda: _close(service, case_id, actor, note),
        "reopen": lambda: service.reopen(case_id, actor, reason=note),
    }


def _close(service: Any, case_id: int, actor: str, note: str) -> None:
    service.close(case_id, actor)
    if note:
        service.add_note(case_id, actor, note)


def perform(ctx: AppContext, case_id: int, action: str, actor: str, **kwargs: Any) -> None:
    """Do ``action`` to case ``case_id`` as ``actor`` through the case service."""
    call = _calls(ctx.case_service, case_id, actor, kwargs).get(action)
    if call is None:
        raise ActionError(400, f"unknown action {action!r}")
    try:
        call()
    except LookupError as exc:  # CaseNotFound, UnknownAgent
        raise ActionError(404, str(exc)) from None
    except InvalidResolution as exc:
        raise ActionError(422, str(exc)) from None
    except CaseError as exc:  # InvalidTransition, NeedsConfirmation
        raise ActionError(409, str(exc), exc) from None
    except ConversationError as exc:  # a message that cannot be sent (too long for SMS...)
        raise ActionError(422, str(exc)) from None
