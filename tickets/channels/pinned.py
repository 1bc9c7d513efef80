"""An httpx transport that connects only where the SSRF guard said it may.

Each request's host is resolved and checked by a :class:`~tickets.channels.guard.TargetPolicy`
at send time; the connection then goes to the checked address itself (the URL's host is
swapped for it, the ``Host`` header and the TLS server name keep the original name), so
a DNS answer that changes between the check and the connect (DNS rebinding) cannot
redirect it to an internal address.
"""

from __future__ import annotations

from typing import Any

import httpx

from tickets.channels.guard import TargetPolicy, UnsafeTarget


class RefusedTarget(httpx.TransportError):
    """The guard refused the request's host; nothing was sent."""


class PinnedTransport(httpx.BaseTransport):
    """Resolves, checks and pins every request's host before ``inner`` sends it."""

    def __init__(self, policy: TargetPolicy, inner: httpx.BaseTransport | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            addresses = self.policy.addresses(host)
        except UnsafeTarget as exc:
            raise RefusedTarget(f"refused: {exc}", request=request) from None
        if not addresses:
            raise RefusedTarget(f"refused: {host} resolves to no address", request=request)
        extensions: dict[str, Any] = dict(request.extensions)
        if request.url.scheme == "https":
            extensions.setdefault("sni_hostname", host)
        request.extensions = extensions
        request.url = request.url.copy_with(host=addresses[0])
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def guarded_client(policy: TargetPolicy, timeout_s: float = 10.0) -> httpx.Client:
    """An httpx client whose every request passes the guard and is pinned to the address
    it checked; redirects are not followed (a redirect could name an internal host)."""
    return httpx.Client(
        transport=PinnedTransport(policy), timeout=timeout_s, follow_redirects=False
    )
