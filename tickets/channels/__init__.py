"""Notification channels: ``log`` (demo) and ``apprise`` (every real service)."""

from __future__ import annotations

from tickets.channels.apprise import AppriseChannel
from tickets.channels.base import Channel, ChannelConfigError, OutgoingMessage, SendResult
from tickets.channels.log import LogChannel

__all__ = [
    "AppriseChannel",
    "Channel",
    "ChannelConfigError",
    "LogChannel",
    "OutgoingMessage",
    "SendResult",
    "channel_key",
]


def channel_key(url: str) -> str:
    """Which channel implementation serves ``url``: "log" for ``log://``, else "apprise"."""
    return "log" if url.lower().startswith("log://") else "apprise"
