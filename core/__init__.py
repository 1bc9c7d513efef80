"""Kizuki's shared core: the bottom layer, importing nothing else of ours.

What every package shares lives here: the reading that flows through
(:mod:`core.readings`), anomaly events and the severity scale (:mod:`core.events`),
case statuses (:mod:`core.cases`), the product catalog (:mod:`core.profiles`), the
clock (:mod:`core.clock`), the metrics registry (:mod:`core.metrics`), the base of
every settings section (:mod:`core.settings`) and the MQTT URL parser
(:mod:`core.mqtt_url`). See ``docs/architecture.md`` for the layers above it.
"""
