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
from tickets.channels.providers import expand
from tickets.channels.smtp_relay import relay_target
from tickets.settings import SmtpSettings

LONG_FORM_SCHEMES = frozenset({"mailto", "mailtos"})
_HTTP_ERROR = re.compile(r"error=(\d{3})")
_RETRYABLE_4XX = frozenset({408, 425, 429})


class AppriseChannel:
    """Any Apprise URL; one plugin instance per send (URLs differ per contact point).

    With a mail relay (``smtp``), plain address contacts (``mailto://a@b``) go through it
    (:mod:`tickets.channels.smtp_relay`); ``providers`` fill in provider accounts
    (:mod:`tickets.channels.providers`)."""

    name = "apprise"

    def __init__(
        self, smtp: SmtpSettings | None = None, providers: Mapping[str, str] | None = None
    ) -> None:
        self.smtp = smtp
        self.providers = dict(providers or {})

    def send(self, url: str, message: OutgoingMessage) -> SendResult:
        try:
            url = expand(url, self.providers)
            target = relay_target(url, self.smtp) or url
            plugin = apprise.Apprise.instantiate(target, suppress_exceptions=True)
        except Exception as exc:  # Apprise plugins may raise on odd URLs
            return SendResult.failed(f"bad Apprise URL: {exc}", recoverable=False)
        if not plugin:
            return SendResult.failed("invalid or unsupported Apprise URL", recoverable=False)
        _add_headers(plugin, message)
        scheme = url.split("://", 1)[0].lower()
        body = message.long_body if scheme in LONG_FORM_SCHEMES else message.short_body
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            try:
                ok = plugin.notify(
                    body=body, title=message.subject, body_format=apprise.NotifyFormat.TEXT
                )
            except Exception as exc:  # translate at the boundary: send() never raises
                return SendResult.failed(f"{type(exc).__name__}: {exc}", recoverable=True)
            text = captured.getvalue().strip()
        if ok:
            return SendResult.sent()
        return SendResult.failed(_summary(text), recoverable=_recoverable(text))


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
