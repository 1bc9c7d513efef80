"""One log format for every process of Kizuki (the engine, the API, the MQTT receiver child).

``text``: ``2026-12-05T17:40:00.123Z INFO    ingest.mqtt [pid 4242]: message``;
``json``: one object per line with ``ts``, ``level``, ``logger``, ``pid``, ``message``
(and ``exc`` with the traceback when there is one). Timestamps are ISO 8601 UTC.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
TEXT = "%(asctime)s %(levelname)-7s %(name)s [pid %(process)d]: %(message)s"


def iso_time(created: float) -> str:
    """``created`` (epoch seconds) as ISO 8601 UTC with milliseconds and a ``Z``."""
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """Human-readable lines with ISO 8601 UTC timestamps."""

    def __init__(self) -> None:
        super().__init__(TEXT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return iso_time(record.created)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str | int, fmt: str = "text") -> None:
    """Send every record at ``level`` and above to stderr in format ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())


def current_format() -> LogFormat:
    """The format :func:`configure` set up in this process ("text" if it did not)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return "json"
    return "text"
