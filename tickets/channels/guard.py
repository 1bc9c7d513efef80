"""Where notifications may go: the SSRF guard and a per-target circuit breaker.

:class:`TargetPolicy` refuses any scheme outside :mod:`tickets.channels.schemes` and, for
schemes whose host is the server we connect to (webhooks, SMTP), every host that
resolves to a loopback, private, link-local (cloud metadata), multicast or otherwise
non-global address, unless an admin named the host or its network in
``notify.allow_targets`` (``integrations.allow_targets`` for the case webhooks). The
check runs at configuration time on what needs no DNS (:func:`resolve_literal`: literal
addresses in any spelling, ``localhost``) and again at every delivery, after DNS
resolution. The case webhooks then connect to the very address that was checked
(:mod:`tickets.channels.pinned`), and so do plain-HTTP contact webhooks
(:func:`tickets.channels.apprise.pin_plain_http`), so a DNS answer that changes in
between (rebinding) gains nothing.

:class:`CircuitBreaker` stops trying a target after ``threshold`` recoverable failures
in a row, for ``cooldown_s``; then one try is let through (half open).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], list[str]]


class UnsafeTarget(ValueError):
    """A contact URL that points somewhere we must not send to."""


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"cannot resolve {host!r}: {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


def resolve_literal(host: str) -> list[str]:
    """What ``host`` is without asking DNS (configuration time): a literal address in any
    spelling the resolver accepts (``2130706433``, ``127.1``, ``[::1]``), loopback for
    ``localhost`` names, nothing for other names (they are checked at delivery)."""
    if host == "localhost" or host.endswith(".localhost"):
        return ["127.0.0.1"]
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def _address(text: str) -> IpAddress:
    address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IpAddress) -> bool:
    """True for a globally routable unicast address."""
    return address.is_global and not address.is_multicast


def _networks(entries: Iterable[str]) -> tuple[list[str], list[IpNetwork]]:
    names: list[str] = []
    networks: list[IpNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            names.append(entry.strip().lower().rstrip("."))
    return names, networks


@dataclass(frozen=True)
class TargetPolicy:
    """Refuses non-public targets unless ``allow`` (host names or CIDRs) names them."""

    allow: tuple[str, ...] = ()
    resolver: Resolver = resolve

    setting: str = "notify.allow_targets"

    def check_host(self, host: str) -> None:
        """Raise :class:`UnsafeTarget` unless ``host`` may be connected to."""
        self.addresses(host)

    def addresses(self, host: str) -> list[str]:
        """The addresses ``host`` resolves to, each one checked; raises
        :class:`UnsafeTarget` if any may not be connected to."""
        host = host.strip().strip("[]").lower().rstrip(".")
        if not host:
            raise UnsafeTarget("the URL names no host")
        names, networks = _networks(self.allow)
        found = self.resolver(host)
        if host in names:
            return found
        for text in found:
            address = _address(text)
            if not is_public(address) and not any(address in net for net in networks):
                raise UnsafeTarget(
                    f"{host} resolves to {address}, a private, loopback or link-local "
                    f"address (an admin may allow it in {self.setting})"
                )
        return found

    def check_url(self, url: str) -> None:
        """Raise :class:`UnsafeTarget` unless ``url`` is http(s) to a host we may reach."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UnsafeTarget(f"{url!r} is not an http:// or https:// URL")
        self.check_host(parts.hostname or "")

    def offline(self) -> TargetPolicy:
        """This policy at configuration time: no DNS (:func:`resolve_literal`)."""
        return replace(self, resolver=resolve_literal)


@dataclass
class CircuitBreaker:
    """Per-target breaker: open after ``threshold`` recoverable failures in a row."""

    threshold: int = 3
    cooldown_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, int] = field(default_factory=dict)
    _open_until: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def is_open(self, target: str) -> bool:
        """True while ``target`` must not be tried; after the cool-down one try passes."""
        with self._lock:
            until = self._open_until.get(target)
            if until is None or self.clock() >= until:
                if until is not None:  # half open: one try, re-opened if it fails
                    self._open_until[target] = self.clock() + self.cooldown_s
                    self._failures[target] = self.threshold - 1
                return False
            return True

    def record(self, target: str, ok: bool) -> None:
        """Note the outcome of a try (only recoverable failures should be recorded)."""
        with self._lock:
            if ok:
                self._failures.pop(target, None)
                self._open_until.pop(target, None)
                return
            count = self._failures.get(target, 0) + 1
            self._failures[target] = count
            if count >= self.threshold:
                self._open_until[target] = self.clock() + self.cooldown_s
