"""The device directory: which product model a device is.

Ingest checks metric names against the model's profile and detection picks the
profile through a :data:`Directory`, once per reading. One implementation caches
(``tickets.directory.DbDeviceDirectory``: known devices until refreshed, unknown ones
re-asked after a short negative TTL); callers do not cache its answers again.
"""

from __future__ import annotations

from collections.abc import Callable

Directory = Callable[[str], str | None]
"""``directory(device_id) -> model``, or None for a device nobody registered."""
