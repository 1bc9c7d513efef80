"""The spine, end to end over real connections.

simulator -> MQTT broker -> ingest -> SQLite store -> detectors -> case -> outbox ->
notification e-mail on a real SMTP server -> the case visible through the HTTP API.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import httpx

from api.auth import create_api_key
from kizuki.broker import start_broker
from simulator.customers import Contact
from simulator.fleet import Fleet
from simulator.publisher import publish
from tests.conftest import SmtpSink
from tests.e2e.conftest import engine_settings, wait_until
from tickets import labels
from tickets.registry import import_manifest, seed_demo_agents


def email_fleet(smtp: SmtpSink, n_devices: int, seed: int) -> Fleet:
    def contacts(customer: object) -> list[Contact]:
        to = f"{customer.id}@example.com"  # type: ignore[attr-defined]
        url = f"mailto://{smtp.host}:{smtp.port}?mode=insecure&from=kizuki@example.com&to={to}"
        return [Contact("email", url)]

    return Fleet.demo(n_devices=n_devices, seed=seed, days=10).with_contacts(contacts)


def register(engine, fleet: Fleet) -> None:  # noqa: ANN001
    manifest = fleet.manifest()
    for customer in manifest["customers"]:
        customer["quiet_hours"] = None  # deliver now, whatever the hour of the test run
    import_manifest(engine.session_factory, manifest)
    seed_demo_agents(engine.session_factory)


def api_cases(engine) -> list[dict]:  # noqa: ANN001
    key = create_api_key(engine.session_factory, "e2e", "viewer")
    base = f"http://127.0.0.1:{engine.settings.api.port}"
    response = httpx.get(f"{base}/api/v1/cases?limit=100", headers={"X-API-Key": key})
    response.raise_for_status()
    return response.json()["data"]


def run_fleet(engine, fleet: Fleet, url: str, prefix: str, protocol: str) -> None:  # noqa: ANN001
    stats = publish(fleet, url, qos=1, speed=0, topic_prefix=prefix, protocol=protocol)
    assert 0.9 * fleet.readings_count <= stats.readings <= fleet.readings_count  # dropouts
    wait_until(lambda: engine.counters.readings >= stats.readings, 120, "ingest to catch up")
    assert engine.counters.readings == stats.readings  # nothing lost, nothing twice


def test_degrading_devices_get_one_case_and_an_email_healthy_ones_none(
    tmp_path: Path, mosquitto_url: str, smtp_server: SmtpSink, unique: str, start_engine
) -> None:
    prefix = f"e2e-{unique}/"
    settings = engine_settings(tmp_path, unique)
    settings.mqtt.topic = f"{prefix}devices/+/telemetry"
    fleet = email_fleet(smtp_server, n_devices=16, seed=11)
    failing = {t.device_id: t for t in fleet.truth()}
    assert failing and len(failing) < len(fleet.devices)

    engine = start_engine(settings, mosquitto_url)
    register(engine, fleet)
    engine.start()
    run_fleet(engine, fleet, mosquitto_url, prefix, "5")

    wait_until(lambda: len(api_cases(engine)) >= len(failing), 60, "a case per failing device")
    cases = api_cases(engine)
    per_device = Counter(case["device_id"] for case in cases)
    assert set(per_device) == set(failing), f"cases on {sorted(per_device)}"
    assert all(n == 1 for n in per_device.values()), per_device
    for case in cases:
        assert case["status"] == "open"
        assert case["failure_mode"] in fleet_modes(fleet, case["device_id"])

    owners = {d.device_id: d.customer_id for d in fleet.devices}
    told = {f"{owners[device]}@example.com" for device in failing}
    mails = wait_for_recipients(smtp_server, told)
    assert {m["X-Envelope-To"] for m in mails} == told  # nobody else was told anything
    for mail in mails:
        body = mail.get_payload(decode=True) if not mail.is_multipart() else mail.as_bytes()
        assert b"/feedback/" in body
    assert engine.deadletters.counts() == {}
    thumbs_down(engine, mails[0])
    in_review = lambda: [c for c in api_cases(engine) if c.get("review_state")]  # noqa: E731
    wait_until(in_review, 30, "the case to wait for an agent's review")
    assert len(in_review()) == 1
    assert labels.to_learn(engine.session_factory) == [], "a vote teaches the detectors nothing"


def thumbs_down(engine, mail) -> None:  # noqa: ANN001
    """The customer follows the mail's thumbs-down link and confirms on the page."""
    body = (mail.get_payload(decode=True) if not mail.is_multipart() else mail.as_bytes()).decode(
        "utf-8", "replace"
    )
    link = re.search(r"http://127\.0\.0\.1:8000(/feedback/[^\s\"'<>?]+)\?vote=down", body)
    assert link, "the mail carries a thumbs-down link"
    base = f"http://127.0.0.1:{engine.settings.api.port}"
    with httpx.Client(base_url=base) as client:
        page = client.get(link.group(1), params={"vote": "down"})
        page.raise_for_status()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "the feedback page has a form"
        sent = client.post(link.group(1), data={"vote": "down", "csrf_token": token.group(1)})
        sent.raise_for_status()


def wait_for_recipients(smtp: SmtpSink, recipients: set[str]) -> list:
    """Every recipient got mail (a case may also send an update when severity rises)."""
    wait_until(
        lambda: recipients <= {m["X-Envelope-To"] for m in smtp.messages},
        60,
        f"mail to {sorted(recipients)}",
    )
    return smtp.messages


def fleet_modes(fleet: Fleet, device_id: str) -> set[str]:
    model = next(d.model for d in fleet.devices if d.device_id == device_id)
    return set(fleet.profiles[model].failure_modes)


def test_same_path_through_the_embedded_broker(
    tmp_path: Path, smtp_server: SmtpSink, unique: str, start_engine
) -> None:
    broker = start_broker("amqtt")
    engine = None
    try:
        assert broker.kind == "amqtt"
        settings = engine_settings(tmp_path, unique, protocol=broker.protocol)
        fleet = email_fleet(smtp_server, n_devices=8, seed=5)
        failing = {t.device_id for t in fleet.truth()}
        engine = start_engine(settings, broker.url)
        register(engine, fleet)
        engine.start()
        run_fleet(engine, fleet, broker.url, "", broker.protocol)
        wait_until(lambda: len(api_cases(engine)) >= len(failing), 60, "cases")
        assert {case["device_id"] for case in api_cases(engine)} == failing
        owners = {d.device_id: d.customer_id for d in fleet.devices}
        told = {f"{owners[device]}@example.com" for device in failing}
        mails = wait_for_recipients(smtp_server, told)
        assert {m["X-Envelope-To"] for m in mails} == told
    finally:
        if engine is not None:
            engine.stop()
        broker.stop()
