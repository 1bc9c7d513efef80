"""The one parser of broker URLs: ``mqtt://[user:pass@]host[:port]`` (``mqtts://`` for TLS)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SCHEMES = ("mqtt", "mqtts", "tcp")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is and who we are to it."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``mqtt[s]://host:port``, without the credentials."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self}"


def parse_broker_url(url: str) -> BrokerAddress:
    """The broker address in ``url``; ``ValueError`` saying what is wrong otherwise.

    >>> parse_broker_url("mqtts://engine:s%40cret@broker.example")
    BrokerAddress(host='broker.example', port=8883, username='engine', password='s@cret', tls=True)
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"bad MQTT URL {url!r}: expected mqtt://[user:pass@]host:port")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"bad port in MQTT URL {url!r}") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return BrokerAddress(parts.hostname, port, user, password, tls)
