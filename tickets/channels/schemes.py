"""The one registry of contact URL schemes: which channel each serves and how.

As Apprise maps a URL scheme to a plugin, this maps it to our channel name ("email",
"sms", "webhook"...), to the implementation that sends it ("apprise" or "log"), to the
body it gets (e-mail the long form) and to whether the URL's host is the server we
connect to (webhooks, SMTP), which is what the SSRF guard (:mod:`tickets.channels.guard`)
checks. A scheme that is not here is refused: at import, and again at delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Scheme:
    """One contact URL scheme we deliver to."""

    channel: str
    implementation: Literal["apprise", "log"] = "apprise"
    long_form: bool = False  # gets the long body (e-mail), else the short one
    host_is_target: bool = False  # the URL's host is the server we connect to


_EMAIL = Scheme("email", long_form=True, host_is_target=True)
_WEBHOOK = Scheme("webhook", host_is_target=True)
SCHEMES: dict[str, Scheme] = {
    "mailto": _EMAIL,
    "mailtos": _EMAIL,
    "json": _WEBHOOK,
    "jsons": _WEBHOOK,
    "form": _WEBHOOK,
    "forms": _WEBHOOK,
    "xml": _WEBHOOK,
    "xmls": _WEBHOOK,
    "slack": Scheme("slack"),
    "line": Scheme("line"),
    "msteams": Scheme("teams"),
    "twilio": Scheme("sms"),
    "vonage": Scheme("sms"),
    "sns": Scheme("sms"),
    # a bare recipient ("sms://+819012345678") sent through the account the admin names in
    # notify.providers.sms (tickets.channels.providers); without one it cannot be delivered
    "sms": Scheme("sms"),
    "log": Scheme("log", implementation="log"),
}
CHANNELS: tuple[str, ...] = tuple(dict.fromkeys(s.channel for s in SCHEMES.values()))


def scheme_name(url: str) -> str:
    """The lower-case scheme of ``url`` ("" when it has none)."""
    return url.split("://", 1)[0].strip().lower() if "://" in url else ""


def scheme_of(url: str) -> Scheme | None:
    """The registered scheme of ``url``, or None when we do not deliver to it."""
    return SCHEMES.get(scheme_name(url))


def channel_of(url: str) -> str:
    """The channel name for a contact URL ("other" when its scheme is not registered)."""
    scheme = scheme_of(url)
    return scheme.channel if scheme else "other"


def channel_key(url: str) -> str:
    """Which channel implementation serves ``url``: "log" or "apprise"."""
    scheme = scheme_of(url)
    return scheme.implementation if scheme else "apprise"


def is_allowed(url: str) -> bool:
    """True if ``url``'s scheme is one we deliver to."""
    return scheme_of(url) is not None
