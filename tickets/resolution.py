"""Resolving a case with the truth: a resolution code, a note, and the customer message
that code and the device's state call for.

* ``RESOLUTION_CODES``: what an agent can say happened. ``recovered`` is the engine's own
  code (auto-resolve after telemetry stayed healthy).
* A fix (``repaired_on_site``, ``remote_fix``) while the detectors still see the anomaly
  (no healthy evidence yet) needs ``confirm=True`` (``NeedsConfirmation`` says why); the
  customer then gets "we have fixed it and are watching", never "all clear".
* ``false_alarm`` teaches the detectors (an agent label, ``tickets.labels``); reopening the
  case withdraws that label again.
"""

from __future__ import annotations

from typing import Literal, get_args

from tickets.kb import ALL_CLEAR
from tickets.lifecycle import CaseError
from tickets.models import Case

AgentResolution = Literal[
    "repaired_on_site",
    "remote_fix",
    "part_shipped",
    "false_alarm",
    "duplicate",
    "customer_declined",
]
ResolutionCode = Literal[AgentResolution, "recovered"]
RESOLUTION_CODES: tuple[AgentResolution, ...] = get_args(AgentResolution)
AUTO_CODE: ResolutionCode = "recovered"
FIXES = frozenset({"repaired_on_site", "remote_fix"})
WATCHING = "resolved-watching"
ARTICLES: dict[str, str] = {
    "part_shipped": "resolved-part-shipped",
    "false_alarm": "resolved-false-alarm",
    "customer_declined": "resolved-declined",
}


class InvalidResolution(CaseError):
    """An unknown resolution code, or a resolution without a note."""


class NeedsConfirmation(CaseError):
    """The device's telemetry is still out of range: resolving as fixed needs confirming."""


def still_out_of_range(case: Case) -> bool:
    """True while the detectors have reported no recovery since the last anomaly."""
    return case.healthy_since is None


def check(case: Case, code: str, note: str, confirm: bool) -> None:
    """Raise ``InvalidResolution``/``NeedsConfirmation`` unless the agent's resolution may go."""
    if code not in RESOLUTION_CODES:
        raise InvalidResolution(
            f"unknown resolution code {code!r}; use one of: {', '.join(RESOLUTION_CODES)}"
        )
    if not note.strip():
        raise InvalidResolution("a resolution needs a note: what was done, and by whom")
    if code in FIXES and still_out_of_range(case) and not confirm:
        observed = case.explanation.get("observed")
        unit = case.explanation.get("unit", "")
        now = f" ({case.explanation.get('metric')} {observed} {unit})" if observed else ""
        raise NeedsConfirmation(
            f"case {case.id}: the device's telemetry is still out of range{now}; confirm to "
            "resolve anyway (the customer is told we fixed it and are watching, not 'all clear')"
        )


def customer_article(code: str, out_of_range: bool) -> str | None:
    """The knowledge-base article the customer gets for ``code``; None: no message."""
    if code == "duplicate":
        return None  # the other case speaks to the customer
    if code in ARTICLES:
        return ARTICLES[code]
    return WATCHING if out_of_range else ALL_CLEAR
