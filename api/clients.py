"""Who the client is: the peer address, or what a trusted proxy says it is.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from peers listed in
``api.trusted_proxies`` (addresses or CIDR networks); anyone else could write anything
there. Behind trusted proxies the client is the right-most address of the chain that is
not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import Scope

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose forwarding headers we believe."""

    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> TrustedProxies:
        """From settings; raises ValueError naming a bad entry."""
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"api.trusted_proxies: {entry!r} is not an address") from None
        return cls(tuple(networks))

    def trusts(self, host: str) -> bool:
        address = _parse(host)
        return address is not None and any(address in net for net in self.networks)

    def client(self, scope: Scope) -> str:
        """The client address of an HTTP request."""
        peer = scope.get("client")
        host = str(peer[0]) if peer else "unknown"
        if not self.trusts(host):
            return host
        for hop in reversed(_header(scope, b"x-forwarded-for").split(",")):
            hop = hop.strip()
            if _parse(hop) is None:
                return host  # garbage in the chain: stop at the last proxy we know
            if not self.trusts(hop):
                return hop
        return host

    def is_https(self, scope: Scope) -> bool:
        """True if the browser talks HTTPS (to us, or to a trusted proxy)."""
        if scope.get("scheme") == "https":
            return True
        peer = scope.get("client")
        if not peer:
            return False
        proto = _header(scope, b"x-forwarded-proto").split(",")[0].strip().lower()
        return self.trusts(str(peer[0])) and proto == "https"


def _header(scope: Scope, name: bytes) -> str:
    values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name]
    return ",".join(values)
