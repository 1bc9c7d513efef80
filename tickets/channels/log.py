"""Demo channel: write each notification to the log and to one JSON file per message.

Files are named by idempotency key and created exclusively, so a re-send after a crash
finds the file and reports a duplicate instead of writing a second copy.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from tickets.channels.base import ChannelConfigError, OutgoingMessage, SendResult

log = logging.getLogger("kizuki.notifications")


class LogChannel:
    """``log://`` URLs (and every notification when ``settings.notify.mode == "log"``)."""

    name = "log"

    def __init__(self, outbox_dir: Path) -> None:
        try:
            outbox_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ChannelConfigError(f"outbox directory {outbox_dir}: {exc}") from exc
        self.outbox_dir = outbox_dir

    def path_for(self, message: OutgoingMessage) -> Path:
        return self.outbox_dir / f"{message.idempotency_key}.json"

    def send(self, url: str, message: OutgoingMessage) -> SendResult:
        path = self.path_for(message)
        record = {**asdict(message), "url": url}
        try:
            with open(path, "x", encoding="utf-8") as handle:
                json.dump(record, handle, ensure_ascii=False, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
        except FileExistsError:
            return SendResult.sent(duplicate=True)
        except OSError as exc:
            return SendResult.failed(f"cannot write {path}: {exc}", recoverable=True)
        log.info(
            "notify %s case #%s -> %s [%s]: %s (%s)",
            message.kind,
            message.case_id,
            message.customer_id,
            message.locale,
            message.subject,
            path.name,
        )
        return SendResult.sent()
