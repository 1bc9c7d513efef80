"""Browser hardening: security headers on every response, Secure cookies over HTTPS."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.clients import TrustedProxies

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
CSP = (
    "default-src 'self'; style-src 'self'; img-src 'self' data:; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'; "
    "base-uri 'none'"
)


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
                headers.setdefault("Content-Security-Policy", CSP)
            await send(message)

        await self.app(scope, receive, with_headers)


class SecureCookies:
    """ASGI middleware marking every cookie ``Secure`` when the browser talks HTTPS (to us,
    or to a proxy in ``api.trusted_proxies`` that says so in X-Forwarded-Proto)."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.proxies.is_https(scope):
            await self.app(scope, receive, send)
            return

        async def secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v + b"; secure" if k == b"set-cookie" and b"secure" not in v.lower() else v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, secure)
