"""E-mail through the operator's mail relay (``notify.smtp``), whatever the contact says.

A customer's e-mail contact is just an address: ``mailto://c-0001@example.com`` (or
``mailto:c-0001@example.com``). Handed to Apprise as is, that URL makes Apprise log in to
*the recipient's* domain as if it were a mailbox provider; it fails, and retries for days.
With ``notify.smtp.host`` set, every such contact is sent through the relay instead: the
host, port, TLS mode, login and sender come from the settings, the recipient from the URL.

A contact URL that carries its own mail server configuration (``smtp=``, a password, or
``mode=``) is a complete Apprise e-mail URL and is left as written.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tickets.settings import SmtpSettings

MAIL_SCHEMES = frozenset({"mailto", "mailtos"})
_APPRISE_MODE = {"starttls": "starttls", "tls": "ssl", "none": "insecure"}
_OWN_SERVER_KEYS = frozenset({"smtp", "mode", "pass", "user"})


def recipients(url: str) -> list[str]:
    """The e-mail address(es) a ``mailto`` contact URL names."""
    scheme, _, rest = url.partition(":")
    if scheme.lower() not in MAIL_SCHEMES:
        return []
    parts = urlsplit(f"{scheme}://{rest.lstrip('/')}")
    query = parse_qs(parts.query)
    found = [a for value in query.get("to", []) for a in value.split(",") if "@" in a]
    found += [unquote(p) for p in parts.path.split("/") if "@" in p]
    if not found and parts.username and parts.hostname:
        found.append(f"{unquote(parts.username)}@{parts.hostname}")
    return [a.strip() for a in found]


def names_own_server(url: str) -> bool:
    """True for a full Apprise e-mail URL (its own SMTP server, login or TLS mode)."""
    parts = urlsplit(url)
    return parts.password is not None or bool(_OWN_SERVER_KEYS & set(parse_qs(parts.query)))


def relay_target(url: str, smtp: SmtpSettings | None) -> dict[str, Any] | None:
    """Apprise's constructor arguments for sending ``url``'s e-mail through the relay, or
    None when no relay is configured or the URL is not a plain address contact."""
    if smtp is None or not smtp.host or names_own_server(url):
        return None
    to = recipients(url)
    if not to:
        return None
    target: dict[str, Any] = {
        "schema": "mailtos" if smtp.security == "tls" else "mailto",
        "host": smtp.host,
        "port": smtp.port,
        "smtp_host": smtp.host,
        "secure": smtp.security == "tls",
        "secure_mode": _APPRISE_MODE[smtp.security],
        "from_addr": f"{smtp.from_name} <{smtp.from_addr}>" if smtp.from_name else smtp.from_addr,
        "targets": to,
        "verify": smtp.verify_certificate,
        "cto": smtp.timeout_s,
        "rto": smtp.timeout_s,
    }
    if smtp.username:
        target["user"] = smtp.username
        target["password"] = smtp.password.get_secret_value() if smtp.password else ""
    return target
