"""``kizuki bridge``: MQTT broker -> NATS JetStream, acking devices after the stream.

Reads the broker from ``KIZUKI_MQTT__URL`` (the one the devices publish to), the
cluster from ``KIZUKI_NATS__URLS`` and the partition count from ``--of``. Logs
``bridge ready`` once subscribed, and its counts at a stop.
"""

from __future__ import annotations

import logging
import threading

from ingest.bridge import Bridge, Limits, Router, StreamPublisher
from ingest.receiver import ProcessReceiver, Receiver, ThreadReceiver
from ingest.settings import IngestConfig, MqttSettings
from ingest.stores import open_deadletters
from kizuki.config import Settings
from kizuki.scale import ingest_config

log = logging.getLogger(__name__)

BRIDGE_CLIENT_ID = "kizuki-bridge-{worker}"


def bridge_config(settings: Settings) -> IngestConfig:
    """Ingest settings for the bridge: unless the client id was set, its own per name."""
    mqtt = settings.mqtt
    if mqtt.client_id == MqttSettings.model_fields["client_id"].default:
        mqtt = mqtt.model_copy(update={"client_id": BRIDGE_CLIENT_ID})
    return ingest_config(IngestConfig(mqtt, settings.ingest, settings.store), settings.worker)


def serve_bridge(settings: Settings, partitions: int, stop: threading.Event) -> dict[str, int]:
    """Bridge until ``stop`` is set; the counts. ``IngestError`` when a side says no."""
    config = bridge_config(settings)
    url = settings.mqtt.url or ""
    name = config.mqtt.client_id
    receiver: Receiver = (
        ThreadReceiver(config, url)
        if settings.ingest.receiver == "thread"
        else ProcessReceiver(config, url)
    )
    publisher = StreamPublisher(settings.nats, name)
    deadletters = open_deadletters(settings.deadletter_path)
    route = Router(settings.nats, partitions, config.mqtt.topic)
    bridge = Bridge(receiver, publisher, route, deadletters, _limits(settings))
    try:
        publisher.start()
        receiver.start()
        log.info(
            "bridge ready: %s on %s -> stream %s (%d partitions)",
            config.mqtt.topic,
            url.rsplit("@", 1)[-1],
            settings.nats.stream,
            partitions,
        )
        bridge.run(stop)
        return {**bridge.counts, **publisher.counts}
    finally:
        receiver.stop()
        publisher.stop()
        deadletters.close()


def _limits(settings: Settings) -> Limits:
    return Limits(
        batch=settings.store.batch_size,
        wait_s=settings.store.flush_interval_s,
        linger_s=settings.ingest.batch_linger_s,
    )
