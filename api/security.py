"""Browser hardening headers and a brake on password guessing."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATH = "/api/docs"  # Swagger UI needs its CDN scripts; our own pages need none


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if not scope["path"].startswith(DOCS_PATH):
                    headers.setdefault("Content-Security-Policy", CSP)
            await send(message)

        await self.app(scope, receive, with_headers)


class LoginThrottle:
    """At most ``limit`` failed log-ins per (username, client) within ``window_s``."""

    def __init__(
        self, limit: int = 5, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        cutoff = self.clock() - self.window_s
        while failures and failures[0] < cutoff:
            failures.popleft()
        return failures

    def blocked(self, username: str, client: str) -> bool:
        with self._lock:
            return len(self._recent((username.lower(), client))) >= self.limit

    def failed(self, username: str, client: str) -> None:
        with self._lock:
            self._recent((username.lower(), client)).append(self.clock())

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), client), None)
