"""A brake on password guessing: progressive delay per account and per client.

Each failed log-in counts against two keys, the account (whatever client tries it) and
the client (whatever account it tries; the address from :mod:`api.clients`). Past
``free`` failures a key must wait ``base_s * 2**(n - free)`` seconds after its last
failure, capped at ``cap_s``, before the next try; a try sooner is refused (429 with
Retry-After) without checking the password. Nothing is ever locked for good: the account
key caps at a minute, so guessing from many addresses cannot lock its owner out, while
it slows any guesser to one try a minute. The counters live in the case DB
(``login_failures``), so every API process on it sees the same ones; a key's count
starts over ``window_s`` after its last failure, and a good log-in clears the account's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

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

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.base_s * 2.0 ** min(failures - self.free, 30), self.cap_s)


RULES = (
    Rule("account", free=5, base_s=1.0, cap_s=60.0),
    Rule("client", free=10, base_s=2.0, cap_s=900.0),
)


class LoginThrottle:
    """Progressive delay on failed log-ins, stored in the case DB."""

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

    def wait_s(self, username: str, client: str) -> int:
        """Seconds before this client may try this account again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self.session_factory() as session:
            for rule, key in self._keys(username, client):
                row = session.get(LoginFailure, key)
                if row is None or now - row.last_at > rule.window_s:
                    continue
                wait = max(wait, row.last_at + rule.delay(row.failures) - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, username: str, client: str) -> None:
        """Count a failed log-in against the account and the client."""
        now = self.clock()
        for rule, key in self._keys(username, client):
            try:
                self._bump(key, rule, now)
            except IntegrityError:  # another process inserted the key first: count on it
                self._bump(key, rule, now)

    def _bump(self, key: str, rule: Rule, now: float) -> None:
        with self.session_factory.begin() as session:
            row = session.get(LoginFailure, key, with_for_update=True)
            if row is None:
                session.add(LoginFailure(key=key, failures=1, first_at=now, last_at=now))
                return
            if now - row.last_at > rule.window_s:
                row.failures, row.first_at = 0, now
            row.failures += 1
            row.last_at = now

    def succeeded(self, username: str, client: str) -> None:
        """A good log-in clears the account's count (the client's stays)."""
        keys = [key for rule, key in self._keys(username, client) if rule.kind == "account"]
        with self.session_factory.begin() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys)))


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
