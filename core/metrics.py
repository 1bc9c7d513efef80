"""Prometheus metrics shared by every part of the engine (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes
PlatformCollector(registry=REGISTRY)

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
STORE_STALLS = Counter(
    "kizuki_store_stalls_total",
    "Telemetry store writes that took longer than store.stall_warn_s (each logged).",
    registry=REGISTRY,
)
STORE_STALL_SECONDS = Gauge(
    "kizuki_store_stall_seconds",
    "How long the telemetry write under way has taken so far (0: none under way).",
    registry=REGISTRY,
)
INGEST_LAG = Gauge(
    "kizuki_ingest_lag_seconds",
    "For the last committed batch: from receiving its oldest message to the commit.",
    registry=REGISTRY,
)
READY = Gauge(
    "kizuki_ready",
    "1 while a readiness check passes: broker_connected, telemetry_store, cases_db, "
    "dispatcher (evaluated at scrape time).",
    ["check"],
    registry=REGISTRY,
)
BROKER_CONNECTED = Gauge(
    "kizuki_broker_connected", "1 while ingest is connected to the MQTT broker.", registry=REGISTRY
)
OUTBOX_BACKLOG = Gauge(
    "kizuki_outbox_backlog",
    "Notifications not yet sent (pending or being sent).",
    registry=REGISTRY,
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "kizuki_outbox_oldest_unsent_seconds",
    "Age of the oldest notification not yet sent (0 when none).",
    registry=REGISTRY,
)
DISPATCHER_HEARTBEAT = Gauge(
    "kizuki_dispatcher_last_pass_timestamp_seconds",
    "When the dispatcher last went through the outbox (epoch seconds).",
    registry=REGISTRY,
)
