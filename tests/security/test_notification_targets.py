"""Finding 4: contact points could point at loopback, localhost, link-local (cloud
metadata) and file://, and the dispatcher delivered there; an endpoint that never
answers held the only dispatcher 4 s per try. Also: provider tokens shown to agents."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import select

from api.auth import create_api_key
from tests.api.world import World, open_case_reaching
from tests.security.conftest import log_in, served
from tests.tickets.conftest import WebhookReceiver
from tickets.channels import AppriseChannel, OutgoingMessage, TargetPolicy, UnsafeTarget
from tickets.dispatcher import Dispatcher
from tickets.models import Notification
from tickets.registry import ManifestError, import_manifest

MESSAGE = OutgoingMessage(
    idempotency_key="kizuki-9-detected-x",
    subject="s",
    short_body="short",
    long_body="long",
    locale="en",
    kind="detected",
    case_id=9,
    customer_id="c-9",
    channel="webhook",
)
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
LINE = "line://abcdefghijklmnopqrstuvwxyz0123456789/U1234567890abcdef1234567890abcdef"
SNS = "sns://AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY/us-east-1/+15551234567"
TOKENS = (
    "TIiajkdnlazkcOXrIdevi7FQ",
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
    "AKIAIOSFODNN7EXAMPLE",
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    hook.start()
    yield hook
    hook.stop()


class Blackhole:
    """A TCP endpoint on loopback that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "http://x/"])
def test_contact_urls_of_other_schemes_are_refused(world: World, url: str) -> None:
    with pytest.raises(ManifestError, match="is not one of"):
        import_manifest(
            world.session_factory, {"customers": [{"id": "c-bad", "contacts": [{"url": url}]}]}
        )


@pytest.mark.parametrize(
    "url",
    [
        "json://127.0.0.1:8080/hook",
        "jsons://localhost/hook",
        "xml://[::1]/hook",
        "form://2130706433/hook",
        "json://169.254.169.254/latest/meta-data/",
        "mailto://ops@10.0.0.5",
    ],
)
def test_contact_urls_to_internal_addresses_are_refused_at_import(world: World, url: str) -> None:
    manifest = {"customers": [{"id": "c-bad", "contacts": [{"url": url}]}]}
    with pytest.raises(ManifestError, match=r"notify\.allow_targets"):
        import_manifest(world.session_factory, manifest, policy=TargetPolicy())
    allowed = TargetPolicy(("127.0.0.0/8", "::1", "10.0.0.0/8", "169.254.169.254", "localhost"))
    assert import_manifest(world.session_factory, manifest, policy=allowed).contacts == 1


def test_kizuki_run_refuses_a_fleet_file_with_an_internal_contact(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kizuki.config import Settings
    from kizuki.runner import StartupError, import_fleet_file

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "fleet.json"
    hook = {"url": "json://127.0.0.1:9/hook"}
    path.write_text(json.dumps({"customers": [{"id": "c-1", "contacts": [hook]}]}))
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(StartupError, match="127.0.0.1.*allow_targets"):
        import_fleet_file(settings, path)
    opted_in = settings.model_copy(
        update={"notify": settings.notify.model_copy(update={"allow_targets": ["127.0.0.1"]})}
    )
    assert import_fleet_file(opted_in, path)["contacts"] == 1


@pytest.mark.parametrize(
    "template",
    [
        "json://127.0.0.1:{port}/hook",
        "json://localhost:{port}/hook",
        "jsons://[::1]:{port}/hook",
        "json://169.254.169.254/latest/meta-data/",
        "form://10.0.0.7/hook",
        "xml://0.0.0.0:{port}/hook",
        "json://2130706433:{port}/hook",  # 127.0.0.1 as one number
        "mailto://127.0.0.1:{port}?mode=insecure&from=k@example.com&to=a@example.com",
        "mailto://mail.example.com?smtp=127.0.0.1&from=k@example.com&to=a@example.com",
    ],
)
def test_private_targets_are_refused_after_resolution(
    receiver: WebhookReceiver, template: str
) -> None:
    result = AppriseChannel().send(template.format(port=receiver.port), MESSAGE)
    assert not result.ok and not result.recoverable and result.error.startswith("refused")
    assert receiver.hits == 0


def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    policy = TargetPolicy(resolver=lambda host: ["93.184.216.34", "10.1.2.3"])
    with pytest.raises(UnsafeTarget, match="10.1.2.3"):
        policy.check_host("hooks.example.com")
    TargetPolicy(resolver=lambda host: ["93.184.216.34"]).check_host("hooks.example.com")


def test_an_admin_allow_list_admits_a_private_target(receiver: WebhookReceiver) -> None:
    assert AppriseChannel(TargetPolicy(("127.0.0.0/8",))).send(receiver.url, MESSAGE).ok
    assert (
        AppriseChannel(TargetPolicy(("localhost",)))
        .send(receiver.url.replace("127.0.0.1", "localhost"), MESSAGE)
        .ok
    )
    assert receiver.hits == 2


def test_a_webhook_contact_is_sent_to_the_address_the_guard_checked(
    receiver: WebhookReceiver,
) -> None:
    """DNS rebinding: hooks.example.test does not resolve on this machine; the guard's
    resolver says 127.0.0.1 (allowed here), so the notice arrives only if the channel
    connects to the address the guard checked, with the name in the Host header."""
    answers = {"hooks.example.test": ["127.0.0.1"]}
    url = f"json://hooks.example.test:{receiver.port}/hook"
    refused = AppriseChannel(TargetPolicy(resolver=answers.__getitem__)).send(url, MESSAGE)
    assert not refused.ok and "127.0.0.1" in (refused.error or "")
    policy = TargetPolicy(("127.0.0.0/8",), answers.__getitem__)
    assert AppriseChannel(policy).send(url, MESSAGE).ok
    headers, _ = receiver.requests[-1]
    assert {k.lower(): v for k, v in headers.items()}[
        "host"
    ] == f"hooks.example.test:{receiver.port}"
    assert receiver.hits == 1


def test_a_webhook_contact_that_redirects_is_not_followed(receiver: WebhookReceiver) -> None:
    """A public endpoint answering 307 to an internal address must not get the notice
    carried there: the redirect target never passed the guard."""
    hops: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hops.append(self.path)
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{receiver.port}/hook")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"json://hooks.example.test:{server.server_address[1]}/hook"
        policy = TargetPolicy(("hooks.example.test",), lambda host: ["127.0.0.1"])
        result = AppriseChannel(policy).send(url, MESSAGE)
    finally:
        server.shutdown()
        server.server_close()
    assert hops == ["/hook"] and not result.ok
    assert receiver.hits == 0


def _drain(world: World) -> None:
    """Send what is pending in the world (demo log channel), so each test starts clean."""
    Dispatcher(world.session_factory, world.settings.tickets).run_once()


def _apprise(world: World, **notify: object) -> Dispatcher:
    tickets = world.settings.tickets
    settings = dataclasses.replace(
        tickets, notify=tickets.notify.model_copy(update={"mode": "apprise", **notify})
    )
    return Dispatcher(world.session_factory, settings)


def test_the_dispatcher_does_not_deliver_to_loopback(
    world: World, receiver: WebhookReceiver
) -> None:
    _drain(world)
    case_id = open_case_reaching(world, "webhook", receiver.url)
    _apprise(world).run_once()
    with world.session_factory() as session:
        row = session.scalars(select(Notification).where(Notification.case_id == case_id)).one()
        assert row.status == "failed" and "refused" in row.last_error
    assert receiver.hits == 0


def test_a_dead_endpoint_cannot_stall_other_customers(
    world: World, receiver: WebhookReceiver
) -> None:
    _drain(world)
    dead = Blackhole()
    try:
        stalled = [
            open_case_reaching(world, "webhook", f"json://127.0.0.1:{dead.port}/hook")
            for _ in range(5)
        ]
        healthy = open_case_reaching(world, "webhook", receiver.url)
        dispatcher = _apprise(world, allow_targets=["127.0.0.1"], timeout_s=0.3, breaker_failures=2)
        assert dispatcher.run_once() == 6
        assert len(dead.accepted) == 2  # then the circuit opened: no more waiting on it
    finally:
        dead.close()
    assert len(receiver.delivered()) == 1
    with world.session_factory() as session:
        rows = session.scalars(select(Notification).where(Notification.case_id.in_(stalled)))
        errors = sorted(r.last_error for r in rows)
        ok = session.scalars(select(Notification).where(Notification.case_id == healthy)).one()
    assert ok.status == "sent"
    assert sum("circuit open" in e for e in errors) == 3


def test_provider_tokens_are_masked_wherever_agents_see_contacts(world: World) -> None:
    case_id = open_case_reaching(world, "slack", SLACK)
    customer = f"c-t{world.serial:04d}"
    contacts = [{"url": SLACK}, {"url": LINE}, {"url": SNS}]
    import_manifest(
        world.session_factory,
        {"customers": [{"id": customer, "name": "Token Owner", "contacts": contacts}]},
    )
    key = create_api_key(world.session_factory, "agent-for-masking", "agent")
    with served(world) as url, httpx.Client(base_url=url) as agent:
        api = agent.get(f"/api/v1/customers/{customer}", headers={"X-API-Key": key}).text
        listing = agent.get("/api/v1/customers?limit=200", headers={"X-API-Key": key}).text
        log_in(agent, "agent")
        page = agent.get(f"/cases/{case_id}", headers={"Accept": "text/html"}).text
    assert "slack://" in api and "line://" in api and "sns://" in api
    for shown in (api, listing, page):
        assert not [t for t in TOKENS if t in shown]
