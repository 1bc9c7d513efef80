"""Notification channels: ``log`` (demo) and ``apprise`` (every real service).

Which URL scheme goes to which channel is :mod:`tickets.channels.schemes`, the one
registry; where a notification may be sent is :mod:`tickets.channels.guard`.
"""

from __future__ import annotations

from tickets.channels.apprise import AppriseChannel, private_url
from tickets.channels.base import Channel, ChannelConfigError, OutgoingMessage, SendResult
from tickets.channels.guard import CircuitBreaker, TargetPolicy, UnsafeTarget
from tickets.channels.log import LogChannel
from tickets.channels.schemes import CHANNELS, SCHEMES, channel_key, channel_of, is_allowed

__all__ = [
    "CHANNELS",
    "SCHEMES",
    "AppriseChannel",
    "Channel",
    "ChannelConfigError",
    "CircuitBreaker",
    "LogChannel",
    "OutgoingMessage",
    "SendResult",
    "TargetPolicy",
    "UnsafeTarget",
    "channel_key",
    "channel_of",
    "is_allowed",
    "private_url",
]
