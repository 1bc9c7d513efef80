"""Prometheus metrics shared by every part of the engine (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

READINGS_IN = Counter(
    "kizuki_readings_total", "Readings committed to the telemetry store.", registry=REGISTRY
)
MESSAGES_IN = Counter(
    "kizuki_mqtt_messages_total", "MQTT messages received by ingest.", registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "kizuki_dead_letters_total",
    "Messages refused by ingest, by reason.",
    ["reason"],
    registry=REGISTRY,
)
WRITE_LATENCY = Histogram(
    "kizuki_store_write_seconds",
    "Time to commit one batch to the telemetry store.",
    registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "kizuki_store_errors_total",
    "Failed store writes (retried; nothing acknowledged).",
    registry=REGISTRY,
)
STORE_BACKPRESSURE = Gauge(
    "kizuki_store_backpressure",
    "1 while ingest holds acknowledgements because the store is slow or down.",
    registry=REGISTRY,
)
INGEST_QUEUE = Gauge(
    "kizuki_ingest_queue_depth", "Messages received but not yet committed.", registry=REGISTRY
)
ANOMALIES = Counter(
    "kizuki_anomalies_total", "Anomaly events raised, by kind.", ["kind"], registry=REGISTRY
)
CASES_OPENED = Counter("kizuki_cases_opened_total", "Cases opened.", registry=REGISTRY)
CASES_RESOLVED = Counter("kizuki_cases_resolved_total", "Cases resolved.", registry=REGISTRY)
NOTIFICATIONS = Counter(
    "kizuki_notifications_total",
    "Notification delivery attempts, by channel and outcome.",
    ["channel", "outcome"],
    registry=REGISTRY,
)
