"""Outbound case webhooks against a real HTTP receiver: signed, in order, retried."""

from __future__ import annotations

import json

from pydantic import SecretStr

from tests.tickets.conftest import FakeClock, WebhookReceiver, make_event
from tickets.service import CaseService
from tickets.settings import WebhookTarget
from tickets.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tickets.webhooks import WebhookRelay

SECRET = "subscriber-secret"


def relay_to(factory, receiver: WebhookReceiver, **kw) -> WebhookRelay:
    url = receiver.url.replace("json://", "http://")
    target = WebhookTarget(url=url, secret=SecretStr(SECRET), backoff_s=0.001, **kw)
    return WebhookRelay(factory, [target], "https://kizuki.example")


def test_case_events_reach_the_subscriber_signed_and_in_order(
    fleet, profiles, settings, clock: FakeClock, webhook: WebhookReceiver
) -> None:
    relay = relay_to(fleet, webhook)
    assert relay.run_once() == 0  # a new subscriber starts from now
    service = CaseService(fleet, profiles, settings, clock=clock)
    case_id = service.handle(make_event("ac-2", at=clock.now)).case_id
    assert case_id is not None
    service.write(case_id, "user:sato", "We will call you.")
    service.resolve(case_id, "user:sato", "repaired_on_site", note="fixed", confirm=True)
    assert relay.run_once() == 4  # opened, assigned, message out, resolved
    types = [body["type"] for _, body in webhook.requests]
    assert types[0] == "case.opened" and types[-1] == "case.resolved"
    assert "message.out" in types and "case.updated" in types
    raw_headers, body = webhook.requests[0]
    headers = {k.lower(): v for k, v in raw_headers.items()}
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    stamp = int(headers[TIMESTAMP_HEADER.lower()])
    assert headers[SIGNATURE_HEADER.lower()] == sign(SECRET, stamp, raw)
    assert headers["idempotency-key"] == body["id"]
    assert body["case"]["id"] == case_id and body["case"]["url"].endswith(f"/cases/{case_id}")
    assert relay.run_once() == 0  # nothing twice


def test_a_failing_subscriber_is_retried_in_order(
    fleet, profiles, settings, clock: FakeClock, webhook: WebhookReceiver
) -> None:
    relay = relay_to(fleet, webhook, events=["case.opened"])
    relay.run_once()
    service = CaseService(fleet, profiles, settings, clock=clock)
    first = service.handle(make_event("ac-1", at=clock.now)).case_id
    second = service.handle(make_event("pu-1", "bearing_wear", model="pump-p3", at=clock.now))
    webhook.statuses = [503, 503]
    for _ in range(6):
        relay.run_once()
        for state in relay._backoff.values():
            state.not_before = 0.0  # skip the waits, not the attempts
    opened = [b["case"]["id"] for _, b in webhook.requests]
    assert opened == [first, second.case_id]  # delivered in order after two 503s
    assert webhook.hits == 4


def test_a_refusing_subscriber_skips_the_event(
    fleet, profiles, settings, clock: FakeClock, webhook: WebhookReceiver
) -> None:
    relay = relay_to(fleet, webhook, events=["case.opened"])
    relay.run_once()
    service = CaseService(fleet, profiles, settings, clock=clock)
    service.handle(make_event("ac-1", at=clock.now))
    webhook.statuses = [400]
    relay.run_once()
    service.handle(make_event("ac-2", at=clock.now))
    relay.run_once()
    assert webhook.hits == 2 and len(webhook.requests) == 1
