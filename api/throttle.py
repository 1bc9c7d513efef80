"""A brake on password guessing: progressive delay per account and per client.

Each log-in attempt counts against two keys, the client (whatever account it tries;
the address from :mod:`api.clients`) and the account (whatever client tries it). Past
``free`` attempts a key must wait ``base_s * 2**(n - free)`` seconds after its last one,
capped at ``cap_s``; a try sooner is refused (429 with Retry-After) without checking the
password. Nothing is ever locked for good: the account key caps at a minute, so guessing
from many addresses cannot lock its owner out, while it slows any guesser to one try a
minute.

The attempt is counted *before* the password is checked, in one conditional UPDATE per
key (``... WHERE next_at <= now``), so a burst of parallel guesses gets ``free`` tries,
not one per request that read the counter before the others wrote it. A good log-in then
clears the account's count and takes its own attempt off the client's. The counters live
in the case DB (``login_failures``), so every API process on it sees the same ones; a
key's count starts over ``window_s`` after its last attempt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import case, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from tickets.models import LoginFailure

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rule:
    """How one kind of key slows down."""

    kind: str  # "account" | "client"
    free: int
    base_s: float
    cap_s: float
    window_s: float = 3600.0

    def delay(self, attempts: int) -> float:
        """The wait after ``attempts`` unsuccessful attempts."""
        if attempts < self.free:
            return 0.0
        return min(self.base_s * 2.0 ** min(attempts - self.free, 30), self.cap_s)

    def next_at(self, now: float) -> ColumnElement[float]:
        """SQL for "now + delay(failures + 1)", the hold an attempt puts on its key."""
        steps = [(LoginFailure.failures + 1 == n, now + self.delay(n)) for n in self._ramp()]
        return case((LoginFailure.failures + 1 < self.free, now), *steps, else_=now + self.cap_s)

    def _ramp(self) -> range:
        n = self.free
        while self.delay(n) < self.cap_s:
            n += 1
        return range(self.free, n)


RULES = (
    Rule("client", free=10, base_s=2.0, cap_s=900.0),
    Rule("account", free=5, base_s=1.0, cap_s=60.0),
)


class LoginThrottle:
    """Progressive delay on log-in attempts, stored in the case DB."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Callable[[], float] = time.time,
        rules: tuple[Rule, ...] = RULES,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.rules = rules

    def _keys(self, username: str, client: str) -> list[tuple[Rule, str]]:
        ids = {"account": username.strip().lower(), "client": client}
        return [(rule, f"{rule.kind}:{ids[rule.kind]}"[:200]) for rule in self.rules]

    def admit(self, username: str, client: str) -> int:
        """Count an attempt and return 0, or return the seconds to wait (not counted)."""
        now = self.clock()
        for rule, key in self._keys(username, client):  # the client's own key first
            if not self._take(rule, key, now):
                return max(1, self.wait_s(username, client))
        return 0

    def _take(self, rule: Rule, key: str, now: float) -> bool:
        self._ensure(key, now)
        with self.session_factory.begin() as session:
            stale = LoginFailure.last_at < now - rule.window_s
            session.execute(
                update(LoginFailure)
                .where(LoginFailure.key == key, stale)
                .values(failures=0, first_at=now)
            )
            taken = session.execute(
                update(LoginFailure)
                .where(LoginFailure.key == key, LoginFailure.next_at <= now)
                .values(failures=LoginFailure.failures + 1, last_at=now, next_at=rule.next_at(now))
            )
            return bool(taken.rowcount)  # type: ignore[attr-defined]

    def _ensure(self, key: str, now: float) -> None:
        try:
            with self.session_factory.begin() as session:
                if session.get(LoginFailure, key) is None:
                    session.add(
                        LoginFailure(key=key, failures=0, first_at=now, last_at=now, next_at=now)
                    )
        except IntegrityError:  # another request created it first: fine
            pass

    def wait_s(self, username: str, client: str) -> int:
        """Seconds before this client may try this account again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self.session_factory() as session:
            for _, key in self._keys(username, client):
                row = session.get(LoginFailure, key)
                if row is not None:
                    wait = max(wait, row.next_at - now)
        return math.ceil(wait) if wait > 0 else 0

    def succeeded(self, username: str, client: str) -> None:
        """A good log-in clears the account's count and is not held against the client."""
        now = self.clock()
        keys = dict((rule.kind, key) for rule, key in self._keys(username, client))
        with self.session_factory.begin() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.key == keys["account"]))
            session.execute(
                update(LoginFailure)
                .where(LoginFailure.key == keys["client"], LoginFailure.failures > 0)
                .values(failures=LoginFailure.failures - 1, next_at=now)
            )


class LoginBusy(RuntimeError):
    """Too many log-ins are waiting for a password check; try again shortly."""


class PasswordGate:
    """At most ``threads`` password checks at once (each costs ~20 MiB and a core for a
    moment), and at most ``queue`` waiting; past that a log-in is refused at once
    (:class:`LoginBusy`) instead of starving every other request of threads and CPU."""

    def __init__(self, threads: int = 2, queue: int = 16) -> None:
        self.limiter = anyio.CapacityLimiter(threads)
        self.room = threads + queue
        self.pending = 0  # running or waiting (counted on the event loop: no lock needed)

    async def run(self, check: Callable[[], T]) -> T:
        """Run ``check`` in a worker thread when a slot is free."""
        if self.pending >= self.room:
            raise LoginBusy("too many log-ins at once; try again in a moment")
        self.pending += 1
        try:
            return await anyio.to_thread.run_sync(check, limiter=self.limiter)
        finally:
            self.pending -= 1
