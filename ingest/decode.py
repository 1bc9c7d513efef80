"""A batch of MQTT messages -> readings to store and dead letters to keep.

Each message is decoded on its own: whatever goes wrong with one message (even a bug in
the parser) dead-letters that message alone, so its neighbours are stored and the whole
batch can be acknowledged. Nothing here raises for bad input.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from core.devices import Directory
from core.profiles import DeviceProfile, MetricSpec
from core.readings import DeadLetter, Reading
from ingest.base import PayloadError
from ingest.parsers import JsonParser, PayloadParser
from ingest.topics import TopicParser

log = logging.getLogger(__name__)

MAX_DETAILS = 5
MAX_DETAIL_CHARS = 500


class Inbound(NamedTuple):
    """One received message: what the writer needs to decode, dead-letter and ack it."""

    topic: str
    payload: bytes
    received_at: float
    mid: int = 0
    qos: int = 1
    redelivered: bool = False  # the broker's DUP flag
    generation: int = 0  # which connection delivered it (acks go back on that one only)


@dataclass(slots=True)
class DecodedBatch:
    """Readings (``origins[i]`` indexes the message ``readings[i]`` came from) + letters."""

    messages: Sequence[Inbound]
    readings: list[Reading] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)

    def refuse(self, index: int, reason: str, detail: str) -> DeadLetter:
        """A dead letter for message ``index`` (its raw payload, keyed for redelivery)."""
        return dead_letter(self.messages[index], reason, detail)


def dead_letter(msg: Inbound, reason: str, detail: str) -> DeadLetter:
    digest = hashlib.blake2b(msg.topic.encode() + b"\0" + msg.payload, digest_size=12)
    return DeadLetter(
        msg.topic,
        msg.payload,
        reason,
        detail[:MAX_DETAIL_CHARS],
        msg.received_at,
        msg_key=f"{msg.mid}:{digest.hexdigest()}",
        redelivered=msg.redelivered,
    ).bounded()


class BatchDecoder:
    """Decodes messages with a parser, checking metrics against the device's profile.

    ``directory(device_id)`` gives the device's model (the directory caches; see
    :mod:`core.devices`).
    """

    def __init__(
        self,
        parser: PayloadParser | None = None,
        directory: Directory | None = None,
        profiles: Mapping[str, DeviceProfile] | None = None,
        topics: Callable[[str], str] | None = None,
    ) -> None:
        self.parser = parser or JsonParser()
        self.directory = directory
        self.profiles = profiles or {}
        self.topics: Callable[[str], str] = topics or TopicParser()
        self._topics: dict[str, str] = {}

    def decode(self, messages: Sequence[Inbound], now: float) -> DecodedBatch:
        """Readings and dead letters of ``messages``; never raises for a bad message."""
        out = DecodedBatch(messages)
        for index, msg in enumerate(messages):
            try:
                self._one(index, msg, now, out)
            except Exception as exc:  # noqa: BLE001 - one message's failure is its own
                log.exception("parser failed on a message from %s", msg.topic[:200])
                out.letters.append(dead_letter(msg, "parser_error", f"{type(exc).__name__}: {exc}"))
        return out

    def _one(self, index: int, msg: Inbound, now: float, out: DecodedBatch) -> None:
        try:
            device_id = self._device(msg.topic)
        except PayloadError as exc:
            out.letters.append(dead_letter(msg, exc.reason, exc.detail))
            return
        decoded = self.parser(device_id, msg.payload, now, self._profile(device_id))
        if decoded.problems:
            out.letters.extend(_letters(msg, decoded.problems))
        found = decoded.readings
        if len(found) == 1:
            out.readings.append(found[0])
            out.origins.append(index)
        elif found:
            out.readings.extend(found)
            out.origins.extend([index] * len(found))

    def _device(self, topic: str) -> str:
        device_id = self._topics.get(topic)
        if device_id is None:
            device_id = self.topics(topic)
            if len(self._topics) > 100_000:
                self._topics.clear()
            self._topics[topic] = device_id
        return device_id

    def _profile(self, device_id: str) -> Mapping[str, MetricSpec] | None:
        if self.directory is None:
            return None
        try:
            model = self.directory(device_id)
        except Exception:  # noqa: BLE001 - an unknown model only skips the profile check
            log.exception("device directory failed for %s", device_id)
            model = None
        profile = self.profiles.get(model) if model is not None else None
        return profile.metrics if profile is not None else None


def _letters(msg: Inbound, problems: list[PayloadError]) -> list[DeadLetter]:
    """One dead letter per reason per message, its detail listing the first few problems."""
    by_reason: dict[str, list[str]] = {}
    for problem in problems:
        by_reason.setdefault(problem.reason, []).append(problem.detail)
    letters = []
    for reason, details in by_reason.items():
        detail = "; ".join(details[:MAX_DETAILS])
        if len(details) > MAX_DETAILS:
            detail += f"; and {len(details) - MAX_DETAILS} more"
        letters.append(dead_letter(msg, reason, detail))
    return letters
