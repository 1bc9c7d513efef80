"""Outbound case webhooks against a real HTTP receiver: signed, in order, retried."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from pydantic import SecretStr, ValidationError

from tests.tickets.conftest import FakeClock, WebhookReceiver, make_event
from tickets.channels.guard import TargetPolicy
from tickets.service import CaseService
from tickets.settings import IntegrationSettings, WebhookTarget
from tickets.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tickets.webhooks import WebhookRelay

SECRET = "subscriber-secret"


LOOPBACK = TargetPolicy(("127.0.0.1",), setting="integrations.allow_targets")


def relay_to(
    factory, receiver: WebhookReceiver, policy: TargetPolicy = LOOPBACK, **kw
) -> WebhookRelay:
    """A relay to the loopback receiver, which it may reach only by the explicit opt-in."""
    url = receiver.url.replace("json://", "http://")
    target = WebhookTarget(url=url, secret=SecretStr(SECRET), backoff_s=0.001, **kw)
    return WebhookRelay(factory, [target], "https://kizuki.example", policy=policy)


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


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://2130706433/hook",  # 127.0.0.1 spelled as one number
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://10.1.2.3/hook",
        "ftp://hooks.example.com/hook",
    ],
)
def test_a_webhook_url_to_an_internal_address_is_refused_at_configuration(url: str) -> None:
    hook = {"url": url, "secret": SECRET}
    with pytest.raises(ValidationError, match="allow_targets|http"):
        IntegrationSettings.model_validate({"webhooks": [hook]})


def test_an_explicit_opt_in_admits_a_private_webhook_url() -> None:
    hook = {"url": "http://127.0.0.1:8000/hook", "secret": SECRET}
    settings = IntegrationSettings.model_validate(
        {"webhooks": [hook], "allow_targets": ["127.0.0.0/8"]}
    )
    assert settings.webhooks[0].url == hook["url"]


def test_the_default_relay_sends_nothing_to_loopback(
    fleet, profiles, settings, clock: FakeClock, webhook: WebhookReceiver
) -> None:
    relay = relay_to(fleet, webhook, policy=TargetPolicy(setting="integrations.allow_targets"))
    relay.run_once()
    CaseService(fleet, profiles, settings, clock=clock).handle(make_event("ac-1", at=clock.now))
    assert relay.run_once() == 0
    assert webhook.hits == 0


def test_a_name_is_checked_at_send_and_the_post_goes_to_the_checked_address(
    fleet, profiles, settings, clock: FakeClock, webhook: WebhookReceiver
) -> None:
    """DNS rebinding: the relay connects to the address the guard checked, never to a
    second answer. hooks.example.test does not resolve on this machine; the guard's
    resolver says 127.0.0.1, so the POST can only arrive if the relay used that answer."""
    answers = {"hooks.example.test": ["127.0.0.1"]}
    url = f"http://hooks.example.test:{webhook.port}/hook"
    target = WebhookTarget(url=url, secret=SecretStr(SECRET), events=["case.opened"])
    service = CaseService(fleet, profiles, settings, clock=clock)

    def relay_with(allow: tuple[str, ...]) -> WebhookRelay:
        policy = TargetPolicy(allow, answers.__getitem__, "integrations.allow_targets")
        return WebhookRelay(fleet, [target], "https://kizuki.example", policy=policy)

    refused = relay_with(())
    refused.run_once()
    service.handle(make_event("ac-1", at=clock.now))
    assert refused.run_once() == 0 and webhook.hits == 0  # resolves to loopback: refused

    allowed = relay_with(("127.0.0.0/8",))  # the admin opts in: the held event goes out
    assert allowed.run_once() == 1
    headers, body = webhook.requests[0]
    host = {k.lower(): v for k, v in headers.items()}["host"]
    assert host == f"hooks.example.test:{webhook.port}"
    assert body["type"] == "case.opened" and body["case"]["device_id"] == "ac-1"


def documented_schema() -> dict[str, Any]:
    """The event body's JSON Schema as docs/service-desk.md publishes it."""
    doc = (Path(__file__).parents[2] / "docs" / "service-desk.md").read_text(encoding="utf-8")
    block = re.search(r"Body \(JSON Schema, draft 2020-12\):\s*```json\n(.*?)```", doc, re.S)
    assert block, "docs/service-desk.md lost the webhook body's JSON Schema"
    return dict(json.loads(block.group(1)))


def test_every_event_body_follows_the_documented_schema(
    fleet, profiles, settings, clock: FakeClock, webhook: WebhookReceiver
) -> None:
    validator = jsonschema_rs.Draft202012Validator(documented_schema(), validate_formats=True)
    relay = relay_to(fleet, webhook)
    relay.run_once()
    service = CaseService(fleet, profiles, settings, clock=clock)
    case_id = service.handle(make_event("ac-2", at=clock.now)).case_id
    assert case_id is not None
    service.write(case_id, "user:sato", "We will call you.")
    service.resolve(case_id, "user:sato", "repaired_on_site", note="fixed", confirm=True)
    assert relay.run_once() >= 4
    for _, body in webhook.requests:
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, (body["type"], errors)
    assert not validator.is_valid({"id": "x", "type": "case.exploded"})  # it can refuse


def test_the_relay_says_at_start_which_subscriber_would_be_refused(fleet) -> None:
    answers = {"hooks.example.test": ["10.0.0.7"], "public.example.test": ["93.184.216.34"]}
    targets = [
        WebhookTarget(url=f"https://{host}/hook", secret=SecretStr(SECRET)) for host in answers
    ]
    policy = TargetPolicy((), answers.__getitem__, "integrations.allow_targets")
    relay = WebhookRelay(fleet, targets, "https://kizuki.example", policy=policy)
    problems = relay.problems()
    assert len(problems) == 1
    assert "hooks.example.test" in problems[0] and "integrations.allow_targets" in problems[0]


def test_kizuki_refuses_a_loopback_webhook_from_the_environment_without_the_opt_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kizuki.config import Settings

    hook = json.dumps([{"url": "http://127.0.0.1:9000/hook", "secret": SECRET}])
    monkeypatch.setenv("KIZUKI_INTEGRATIONS__WEBHOOKS", hook)
    with pytest.raises(ValidationError, match=r"127\.0\.0\.1.*integrations\.allow_targets"):
        Settings(data_dir=tmp_path)
    monkeypatch.setenv("KIZUKI_INTEGRATIONS__ALLOW_TARGETS", '["127.0.0.1"]')
    assert Settings(data_dir=tmp_path).integrations.policy().allow == ("127.0.0.1",)
