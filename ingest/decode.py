"""A batch of MQTT messages -> readings to store and dead letters to keep."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from anomaly.profiles import DeviceProfile, MetricSpec
from ingest.base import DeadLetter, PayloadError, Reading
from ingest.parsers import JsonParser, PayloadParser
from ingest.topics import TopicParser
from kizuki.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)

Directory = Callable[[str], str | None]
MAX_DETAILS = 5


class BatchDecoder:
    """Decodes messages with a parser, checking metrics against the device's profile.

    ``directory(device_id)`` gives the device's model; answers are cached for
    ``directory_ttl_s`` so a database-backed directory is not asked once per message.
    """

    def __init__(
        self,
        parser: PayloadParser | None = None,
        directory: Directory | None = None,
        profiles: Mapping[str, DeviceProfile] | None = None,
        directory_ttl_s: float = 60.0,
        topics: TopicParser | None = None,
    ) -> None:
        self.parser = parser or JsonParser()
        self.directory = directory
        self.profiles = profiles or {}
        self.directory_ttl_s = directory_ttl_s
        self.topics = topics or TopicParser()
        self._models: dict[str, tuple[float, Mapping[str, MetricSpec] | None]] = {}
        self._topics: dict[str, str] = {}

    def decode(
        self, messages: Iterable[tuple[str, bytes, float]], now: float
    ) -> tuple[list[Reading], list[DeadLetter]]:
        """``messages`` are (topic, payload, received_at); problems become dead letters."""
        readings: list[Reading] = []
        letters: list[DeadLetter] = []
        for topic, payload, received_at in messages:
            try:
                device_id = self._device(topic)
            except PayloadError as exc:
                letters.append(DeadLetter(topic, payload, exc.reason, exc.detail, received_at))
                continue
            decoded = self.parser(device_id, payload, now, self._profile(device_id, now))
            readings.extend(decoded.readings)
            if decoded.problems:
                letters.extend(_letters(topic, payload, received_at, decoded.problems))
        for letter in letters:
            DEAD_LETTERS.labels(letter.reason).inc()
        return readings, letters

    def _device(self, topic: str) -> str:
        device_id = self._topics.get(topic)
        if device_id is None:
            device_id = self.topics(topic)
            if len(self._topics) > 100_000:
                self._topics.clear()
            self._topics[topic] = device_id
        return device_id

    def _profile(self, device_id: str, now: float) -> Mapping[str, MetricSpec] | None:
        if self.directory is None:
            return None
        cached = self._models.get(device_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            model = self.directory(device_id)
        except Exception:  # noqa: BLE001 - an unknown model only skips the profile check
            log.exception("device directory failed for %s", device_id)
            model = None
        profile = self.profiles.get(model) if model is not None else None
        metrics = profile.metrics if profile is not None else None
        self._models[device_id] = (now + self.directory_ttl_s, metrics)
        return metrics


def _letters(
    topic: str, payload: bytes, received_at: float, problems: list[PayloadError]
) -> list[DeadLetter]:
    """One dead letter per reason per message, its detail listing the first few problems."""
    by_reason: dict[str, list[str]] = {}
    for problem in problems:
        by_reason.setdefault(problem.reason, []).append(problem.detail)
    letters = []
    for reason, details in by_reason.items():
        detail = "; ".join(details[:MAX_DETAILS])
        if len(details) > MAX_DETAILS:
            detail += f"; and {len(details) - MAX_DETAILS} more"
        letters.append(DeadLetter(topic, payload, reason, detail, received_at))
    return letters
