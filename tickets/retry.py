"""After a failed send: retry the contact point, move to the next one, go round again, or
give up. A pure function of the row's attempt history and the clock.

* A recoverable failure is retried on the same contact point, waiting ``backoff_s`` after
  its first failure there, then 2x, 4x ... capped at ``max_backoff_s``.
* After ``max_attempts`` failures in a row on one contact point, the next enabled one in
  preference order takes over; after the last, the list starts again from the top, so a
  receiver that is down for a while still gets the message once it is back.
* A permanent failure (bad URL, HTTP 4xx) retires that contact point for this message.
* ``give_up_after_s`` after the first attempt (or when every contact point failed
  permanently) the row is marked failed.
* An "outcome unknown" attempt (a dispatcher died while sending) counts for none of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from tickets.settings import TicketsConfig

OUTCOME_UNKNOWN = (
    "outcome unknown: a dispatcher stopped during send; re-sending with the same idempotency key"
)
Slot = int | None  # a contact point id; None is the log channel in log mode


@dataclass(frozen=True, slots=True)
class Tried:
    """One real attempt of a notification (never an "outcome unknown" one)."""

    slot: Slot
    at: datetime
    ok: bool
    recoverable: bool


@dataclass(frozen=True, slots=True)
class Plan:
    action: Literal["retry", "give_up"]
    slot: Slot = None
    at: datetime | None = None
    reason: str = ""


def backoff(settings: TicketsConfig, failures: int) -> timedelta:
    """The wait after a contact point's ``failures``-th failure: backoff_s, 2x, 4x ...
    capped at ``max_backoff_s``."""
    notify = settings.notify
    exponent = min(max(0, failures - 1), 60)  # 2**60 s is past any cap
    return timedelta(seconds=min(notify.backoff_s * 2**exponent, notify.max_backoff_s))


def plan(
    history: Sequence[Tried], slots: Sequence[Slot], settings: TicketsConfig, now: datetime
) -> Plan:
    """What to do after the last attempt in ``history`` failed; ``slots`` are the
    customer's enabled contact points in preference order."""
    failures = [t for t in history if not t.ok]
    last = failures[-1]
    dead = {t.slot for t in failures if not t.recoverable}
    live = [slot for slot in slots if slot not in dead]
    if not live:
        return Plan("give_up", reason="every channel failed permanently")
    deadline = min(t.at for t in history) + timedelta(seconds=settings.notify.give_up_after_s)
    if now >= deadline:
        budget = _duration(settings.notify.give_up_after_s)
        return Plan("give_up", reason=f"gave up after {budget} of retries")
    slot = _following(live, slots, last.slot, _count(failures, last.slot), settings)
    count = _count(failures, slot)
    at = now + backoff(settings, count) if count else now
    return Plan("retry", slot, min(at, deadline))


def _following(
    live: Sequence[Slot], slots: Sequence[Slot], current: Slot, failed: int, settings: TicketsConfig
) -> Slot:
    """``current`` until its round of ``max_attempts`` is used up, then the next live slot
    after it (wrapping round to the most preferred)."""
    if current in live and failed % settings.notify.max_attempts != 0:
        return current
    start = slots.index(current) + 1 if current in slots else 0
    ring = [*slots[start:], *slots[:start]]
    return next(slot for slot in ring if slot in live)


def _count(failures: Sequence[Tried], slot: Slot) -> int:
    return sum(1 for t in failures if t.slot == slot)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
