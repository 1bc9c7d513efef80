"""Delivery through Apprise: e-mail, SMS gateways, Slack, Teams, LINE, JSON webhooks...

The contact point's Apprise URL picks the service. E-mail gets the long form, every other
service the short one. Apprise reports failures through its logger and a False return;
we capture that text and call a failure permanent when the URL is unusable or the service
answered with an HTTP 4xx other than 408/429, recoverable otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Mapping
from typing import Any

import apprise

with warnings.catch_warnings():
    # Apprise's e-mail/PGP support imports the stdlib ``imghdr`` lazily, which warns on
    # Python 3.11-3.12; import it once here, quietly, so a first send does not trip
    # warnings-as-errors. (Python 3.13 removed it and Apprise then installs a shim.)
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import imghdr  # noqa: F401

from tickets.channels.base import OutgoingMessage, SendResult
from tickets.channels.guard import CircuitBreaker, TargetPolicy, UnsafeTarget
from tickets.channels.providers import expand
from tickets.channels.schemes import scheme_name, scheme_of
from tickets.channels.smtp_relay import relay_target
from tickets.settings import SmtpSettings

_HTTP_ERROR = re.compile(r"error=(\d{3})")
_RETRYABLE_4XX = frozenset({408, 425, 429})


class AppriseChannel:
    """Apprise URLs of the registered schemes (:mod:`tickets.channels.schemes`); one
    plugin instance per send (URLs differ per contact point).

    ``policy`` refuses private targets (:mod:`tickets.channels.guard`), ``breaker`` stops
    trying a target that keeps failing, and every connect and read waits ``timeout_s``
    at most. With a mail relay (``smtp``), plain address contacts (``mailto://a@b``) go
    through it (:mod:`tickets.channels.smtp_relay`; the relay the admin configured is
    trusted, not checked by ``policy``); ``providers`` fill in provider accounts
    (:mod:`tickets.channels.providers`)."""

    name = "apprise"

    def __init__(
        self,
        policy: TargetPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        timeout_s: float = 3.0,
        smtp: SmtpSettings | None = None,
        providers: Mapping[str, str] | None = None,
    ) -> None:
        self.policy = policy or TargetPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.timeout_s = timeout_s
        self.smtp = smtp
        self.providers = dict(providers or {})

    def send(self, url: str, message: OutgoingMessage) -> SendResult:
        scheme = scheme_of(url)
        if scheme is None or scheme.implementation != "apprise":
            return SendResult.failed(f"scheme {scheme_name(url)!r} is not allowed", False)
        try:
            url = expand(url, self.providers)
            relayed = relay_target(url, self.smtp)
            plugin = apprise.Apprise.instantiate(relayed or url, suppress_exceptions=True)
        except Exception as exc:  # Apprise plugins may raise on odd URLs
            return SendResult.failed(f"bad Apprise URL: {exc}", recoverable=False)
        if not plugin:
            return SendResult.failed("invalid or unsupported Apprise URL", recoverable=False)
        target = breaker_key(url, plugin)
        try:
            for host in target_hosts(plugin) if scheme.host_is_target and not relayed else ():
                addresses = self.policy.addresses(host)
                if host == getattr(plugin, "host", None) and addresses:
                    pin_plain_http(plugin, addresses[0])
        except UnsafeTarget as exc:
            return SendResult.failed(f"refused: {exc}", recoverable=False)
        if self.breaker.is_open(target):
            return SendResult.failed(f"{target} keeps failing; paused (circuit open)", True)
        _prepare(plugin, message, self.timeout_s)
        body = message.long_body if scheme.long_form else message.short_body
        result = _notify(plugin, body, message.subject)
        if result.ok or result.recoverable:
            self.breaker.record(target, result.ok)
        return result


def pin_plain_http(plugin: Any, address: str) -> None:
    """Make a plain-HTTP webhook plugin (json://, form://, xml://) connect to ``address``,
    the one the guard checked, with the name in the ``Host`` header, so a DNS answer
    that changes before the connect (rebinding) is never used. HTTPS ones keep the name:
    their certificate check fails on an address the name was not issued for."""
    headers = getattr(plugin, "headers", None)
    if getattr(plugin, "secure", True) or not isinstance(headers, dict):
        return
    port = getattr(plugin, "port", None)
    headers["Host"] = f"{plugin.host}:{port}" if isinstance(port, int) else str(plugin.host)
    plugin.host = f"[{address}]" if ":" in address else address


def breaker_key(url: str, plugin: Any) -> str:
    """What the circuit breaker counts failures of: scheme, host and port."""
    host, port = getattr(plugin, "host", None) or "", getattr(plugin, "port", None)
    return f"{scheme_name(url)}://{host}" + (f":{port}" if port else "")


def target_hosts(plugin: Any) -> list[str]:
    """The hosts a plugin will connect to: its host, and an explicit SMTP server."""
    hosts = [getattr(plugin, "host", None), getattr(plugin, "smtp_host", None)]
    return [str(h) for h in dict.fromkeys(hosts) if h]


def _prepare(plugin: Any, message: OutgoingMessage, timeout_s: float) -> None:
    plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout_s
    plugin.redirects = False  # a redirect could lead past the guard to an internal address
    _add_headers(plugin, message)


def _notify(plugin: Any, body: str, title: str) -> SendResult:
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        try:
            ok = plugin.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        except Exception as exc:  # translate at the boundary: send() never raises
            return SendResult.failed(f"{type(exc).__name__}: {exc}", recoverable=True)
        text = captured.getvalue().strip()
    if ok:
        return SendResult.sent()
    return SendResult.failed(_summary(text), recoverable=_recoverable(text))


def private_url(url: str) -> str:
    """``url`` with its tokens and passwords masked, as Apprise prints it privately;
    a URL Apprise cannot read shows as its scheme only."""
    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001 - a URL we cannot read shows as its scheme
        plugin = None
    if not plugin:
        return f"{scheme_name(url) or 'unknown'}://…"
    printed = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
    return printed.split("?", 1)[0].rstrip("/")


def _add_headers(plugin: Any, message: OutgoingMessage) -> None:
    headers = getattr(plugin, "headers", None)
    if isinstance(headers, dict):
        headers["Idempotency-Key"] = message.idempotency_key
        headers["X-Kizuki-Case"] = str(message.case_id)


def _recoverable(text: str) -> bool:
    codes = [int(code) for code in _HTTP_ERROR.findall(text)]
    return not any(400 <= code < 500 and code not in _RETRYABLE_4XX for code in codes)


def _summary(text: str) -> str:
    lines = [line.split(" - ", 2)[-1] for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-3:])[:1000] or "delivery failed (no detail from Apprise)"
