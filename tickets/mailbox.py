"""Where ``inbound.imap_url`` points: parsed on its own, so settings can check it without
loading the conversation code (:mod:`tickets.inbound_imap` polls it)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class Mailbox:
    """Where to poll, from ``inbound.imap_url``."""

    host: str
    port: int
    user: str
    folder: str
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Mailbox:
        """Raise ValueError unless ``url`` is ``imap(s)://user@host[:port][/folder]``."""
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ValueError(f"{url!r} is not imap://user@host or imaps://user@host")
        tls = parts.scheme == "imaps"
        folder = unquote(parts.path.strip("/")) or "INBOX"
        port = parts.port or (993 if tls else 143)
        return cls(parts.hostname, port, unquote(parts.username), folder, tls)
