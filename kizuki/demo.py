"""``kizuki demo``: the whole pipeline on embedded defaults, with a simulated fleet."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import typer
from pydantic import SecretStr

from core.clock import ReplayClock, utc
from kizuki import demo_inbox
from kizuki.config import Settings
from kizuki.runner import StartupError, check_api_port, start_engine, stop_on_signals, with_port

log = logging.getLogger(__name__)

DEMO_USERS = (("demo", "demo", "agent"), ("admin", "admin", "admin"))


@dataclass(frozen=True)
class DemoOptions:
    devices: int = 50
    days: float = 10.0
    speed: float = 14400.0
    seed: int = 7
    port: int | None = None
    broker: str = "auto"
    exit_when_done: bool = False
    keep: bool = False


def demo_settings(settings: Settings, options: DemoOptions) -> Settings:
    """The demo keeps its data apart from ``kizuki run``'s, under <data_dir>/demo; it
    receives customers' replies (an SMTP endpoint on a free loopback port unless one is
    set, and webhooks signed with a secret made for this run)."""
    settings = with_port(settings, options.port)
    base = f"http://{settings.api.host}:{settings.api.port}"
    notify = settings.notify.model_copy(update={"public_base_url": base})
    inbound = settings.inbound
    secret = inbound.webhook_secret.get_secret_value() or secrets.token_urlsafe(24)
    inbound = inbound.model_copy(
        update={"smtp_port": inbound.smtp_port or _free_port(), "webhook_secret": SecretStr(secret)}
    )
    return settings.model_copy(
        update={"data_dir": settings.data_dir / "demo", "notify": notify, "inbound": inbound}
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mixed_channels(manifest: dict[str, Any]) -> dict[str, Any]:
    """Give the demo's customers e-mail, SMS or LINE (in turn), so a visitor sees each
    channel (in log mode a notice is written to the outbox; the notice keeps the channel
    it is for, and /demo/inbox shows it in that channel's form)."""
    customers = []
    for i, customer in enumerate(manifest.get("customers") or []):
        cid = str(customer["id"])
        digits = "".join(ch for ch in cid if ch.isdigit()).rjust(8, "0")
        contact = [
            {"channel": "email", "url": f"mailto://{cid}@example.com"},
            {"channel": "sms", "url": f"log://sms/+8190{digits}"},
            {"channel": "line", "url": f"log://line/U{cid.replace('-', '')}"},
        ][i % 3]
        customers.append({**customer, "contacts": [contact]})
    return {**manifest, "customers": customers}


def run_demo(settings: Settings, options: DemoOptions) -> None:
    settings = demo_settings(settings, options)
    refuse_public_host(settings.api.host)
    check_api_port(settings)
    if not options.keep and settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
    with stop_on_signals() as stop:
        broker = _start_broker(settings, options)
        try:
            _run_with_broker(settings, options, broker, stop)
        finally:
            _stop_broker(broker)


def refuse_public_host(host: str) -> None:
    """The demo's logins are known (demo/demo, admin/admin): serve them on loopback only."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise StartupError(
            f"kizuki demo has known logins and serves on loopback only, not {host}: "
            "set KIZUKI_API__HOST=127.0.0.1 (use `kizuki run` for anything else)"
        )


def _stop_broker(broker: Any) -> None:
    if broker is not None:
        broker.stop()
        typer.echo(f"broker stopped ({broker.kind})")


def _start_broker(settings: Settings, options: DemoOptions) -> Any:
    from kizuki.broker import BrokerStartError, start_broker

    if settings.mqtt.url is not None:
        return None
    try:
        return start_broker(options.broker, message_size_limit=settings.ingest.max_payload_bytes)  # type: ignore[arg-type]
    except BrokerStartError as exc:
        raise StartupError(str(exc)) from None


def _run_with_broker(
    settings: Settings, options: DemoOptions, broker: Any, stop: threading.Event
) -> None:
    from kizuki.demo_clock import restart_sla_clocks
    from simulator.fleet import Fleet
    from tickets.settings import TicketsConfig

    url = str(broker.url if broker else settings.mqtt.url)
    if broker is not None:
        mqtt = settings.mqtt.model_copy(update={"protocol": broker.protocol})
        settings = settings.model_copy(update={"mqtt": mqtt})
    fleet = Fleet.demo(n_devices=options.devices, seed=options.seed, days=options.days)
    clock = ReplayClock(start=fleet.start_ts)
    engine = start_engine(settings, url, clock=clock, app_hooks=(demo_inbox.install,))
    try:
        _seed(engine, fleet)
        _banner(settings, url, broker, fleet)
        if not stop.is_set():
            _replay(engine, fleet, url, options, stop)
        clock.go_live()
        restarted = restart_sla_clocks(
            engine.session_factory, TicketsConfig.of(engine.settings), utc(clock())
        )
        typer.echo(f"SLA clocks of {restarted} open cases start now (the replay took seconds).")
        if not options.exit_when_done and not stop.is_set():
            typer.echo("fleet replayed; the UI stays up. Ctrl-C to stop.")
            stop.wait()
    finally:
        typer.echo("stopping...")
        engine.stop()


def _seed(engine: Any, fleet: Any) -> None:
    from api.auth import create_user
    from tickets.registry import import_manifest, seed_demo_agents

    import_manifest(engine.session_factory, mixed_channels(dict(fleet.manifest())))
    seed_demo_agents(engine.session_factory)
    for username, password, role in DEMO_USERS:
        create_user(engine.session_factory, username, password, role)


def _banner(settings: Settings, url: str, broker: Any, fleet: Any) -> None:
    failing = [t for t in fleet.truth()]
    where = f"http://{settings.api.host}:{settings.api.port}/"
    typer.echo(
        f"Kizuki demo: broker {url} ({broker.kind if broker else 'external'}), "
        f"{len(fleet.devices)} devices, {len(failing)} will degrade.\n"
        f"  web UI: {where}  (log in as demo/demo, or admin/admin)\n"
        f"  customers' inbox: {where}demo/inbox  (reply as a customer by e-mail, SMS or LINE)\n"
        f"  replies: SMTP {settings.inbound.smtp_host}:{settings.inbound.smtp_port}, "
        f"signed webhooks at {where}hooks/inbound/<channel>\n"
        f"  outbox: {settings.outbox_dir}/"
    )


def _replay(engine: Any, fleet: Any, url: str, options: DemoOptions, stop: threading.Event) -> None:
    from simulator.publisher import publish

    started = time.monotonic()
    done = threading.Event()
    result: dict[str, Any] = {}

    def worker() -> None:
        try:
            result["stats"] = publish(
                fleet,
                url,
                qos=1,
                speed=options.speed,
                stop_event=stop,
                protocol=engine.settings.mqtt.protocol,
                client_id="kizuki-demo-fleet",
            )
        except Exception as exc:  # reported below, in the main thread
            result["error"] = exc
        finally:
            done.set()

    threading.Thread(target=worker, name="simulator", daemon=True).start()
    while not done.wait(2.0) and not stop.is_set():
        typer.echo(progress_line(engine, time.monotonic() - started))
    if "error" in result:
        raise StartupError(f"simulator failed: {result['error']}")
    if stop.is_set():
        return
    _wait_for_drain(engine, fleet, stop)
    resolved = resolve_while_watching(engine)
    _wait_for_notices(engine, stop)
    typer.echo(progress_line(engine, time.monotonic() - started))
    typer.echo(summary(engine, fleet))
    typer.echo(resolution_line(engine, resolved))


def _wait_for_drain(engine: Any, fleet: Any, stop: threading.Event, timeout: float = 60) -> None:
    """Give ingest and the dispatcher time to finish what the simulator sent."""
    expected = sum(len(r) for _, r in fleet.ticks()) if len(fleet.devices) <= 500 else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if expected is None or engine.counters.readings >= expected:
            break
        time.sleep(0.5)
    _wait_for_notices(engine, stop, max(0.0, deadline - time.monotonic()))


def _wait_for_notices(engine: Any, stop: threading.Event, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set() and case_counts(engine)["due"]:
        time.sleep(engine.settings.notify.poll_interval_s)
    time.sleep(engine.settings.notify.poll_interval_s + 0.5)


def progress_line(engine: Any, elapsed: float) -> str:
    counts = case_counts(engine)
    c = engine.counters
    rate = c.readings / elapsed if elapsed > 0 else 0.0
    held = f" ({counts['held']} held for quiet hours)" if counts["held"] else ""
    return (
        f"[{elapsed:6.1f}s] readings {c.readings:,} ({rate:,.0f}/s) | anomalies {c.anomalies} | "
        f"cases opened {counts['cases']} | notifications sent {counts['sent']}{held}"
    )


def case_counts(engine: Any) -> dict[str, int]:
    """Cases so far; notifications sent, held (quiet hours) and due now."""
    from sqlalchemy import func, select

    from tickets.models import Case, Notification

    now = utc(engine.clock())
    pending = Notification.status.in_(("pending", "sending"))
    with engine.session_factory() as session:

        def count(*where: Any) -> int:
            query = select(func.count()).select_from(Notification).where(*where)
            return int(session.scalar(query) or 0)

        cases = int(session.scalar(select(func.count()).select_from(Case)) or 0)
        sent = count(Notification.status == "sent")
        held = count(pending, Notification.last_error.like("quiet hours%"))
        due = count(pending, Notification.next_attempt_at <= now)
    return {"cases": cases, "sent": sent, "held": held, "due": due}


def case_states(engine: Any) -> dict[str, str]:
    """Per device with a case: its severity now and how it escalated (living cases)."""
    from sqlalchemy import select

    from tickets.models import Case

    out: dict[str, str] = {}
    with engine.session_factory() as session:
        for case in session.scalars(select(Case).order_by(Case.id)):
            steps = [
                f"{e.detail.get('severity_from')}->{e.detail.get('severity_to')} "
                f"({e.detail.get('reason')})"
                for e in case.events
                if e.kind == "escalated"
            ]
            path = f", escalated {', '.join(steps)}" if steps else ""
            who = f", with {case.assignee.name}" if case.assignee else ", unassigned"
            out[case.device_id] = (
                f"case #{case.id} {case.status}, {case.severity}{path}{who}{_routing(case)}"
            )
    return out


DEMO_FIX = (
    "repaired_on_site",
    "Demo: the technician replaced the worn part on site. The readings have not settled "
    "yet, so we keep watching before we call it fixed.",
)


def resolve_while_watching(engine: Any) -> int | None:
    """The demo's agent resolves one open case as repaired on site while its device is
    still out of range (confirmed): the customer gets "we have fixed it and are
    watching", not "all clear". It takes a case whose customer has heard of the problem
    and has nothing else waiting (a customer never told of a problem is not told it is
    fixed, ``tickets.coalesce``), preferring one that never escalated, so the
    escalations stay open to look at. Returns its id (None: no such case)."""
    from sqlalchemy import select

    from core.cases import OPEN_STATUSES
    from tickets.models import Case
    from tickets.resolution import still_out_of_range

    with engine.session_factory() as session:
        open_cases = session.scalars(
            select(Case).where(Case.status.in_(OPEN_STATUSES)).order_by(Case.id)
        ).all()
        told = [
            c
            for c in open_cases
            if still_out_of_range(c) and any(n.status == "sent" for n in c.notifications)
        ]
        if not told:
            return None
        chosen = min(told, key=_story_order)
        case_id = int(chosen.id)
    code, note = DEMO_FIX
    engine.cases.resolve(case_id, "user:demo", code, note, confirm=True)
    return case_id


def _story_order(case: Any) -> tuple[bool, bool, int]:
    """Nothing waiting first, then never escalated, then the oldest."""
    waiting = any(n.status in ("pending", "sending") for n in case.notifications)
    escalated = any(e.kind == "escalated" for e in case.events)
    return waiting, escalated, int(case.id)


def resolution_line(engine: Any, case_id: int | None) -> str:
    """What the demo's resolution told the customer, and whether it went out yet."""
    from sqlalchemy import select

    from tickets.models import Case, Notification

    if case_id is None:
        return "Resolution: no open case still out of range has told its customer; none resolved."
    with engine.session_factory() as session:
        case = session.get_one(Case, case_id)
        notice = session.scalars(
            select(Notification)
            .where(Notification.case_id == case_id, Notification.kind == "all_clear")
            .order_by(Notification.id.desc())
        ).first()
        head = (
            f"Resolution: case #{case_id} ({case.device_id}) resolved as "
            f"{case.resolution_code} while its telemetry is still out of range"
        )
        if notice is None:
            return f"{head}; no customer to tell"
        state = notice.status if notice.status != "pending" else f"held: {notice.last_error}"
        return f"{head}; the customer is told ({state}): {notice.subject}"


def _routing(case: Any) -> str:
    """How an escalation moved the case between agents (tickets.escalation)."""
    notes = []
    for e in case.events:
        d = e.detail
        if e.kind == "rerouted":
            notes.append(f"re-routed {d['from_agent_name']} -> {d['to_agent_name']}")
        elif e.kind == "reroute_wanted":
            notes.append(f"needs tier {d['tier_needed']}, nobody of it fits")
    return f" ({'; '.join(notes)})" if notes else ""


def summary(engine: Any, fleet: Any) -> str:
    """Which degrading devices got a case, and how early in simulated time."""
    with engine.counters.lock:
        first_event = dict(engine.counters.first_anomaly)
    lines = ["Degrading devices (simulated time):"]
    states = case_states(engine)
    for truth in fleet.truth():
        seen = first_event.get(truth.device_id)
        if seen is None:
            lines.append(f"  {truth.device_id} {truth.failure_mode}: no case")
            continue
        after_onset = (seen - truth.onset_ts) / 3600
        before = (
            ""
            if truth.notice_ts is None
            else (f", {(truth.notice_ts - seen) / 3600:.1f} h before the customer would notice")
        )
        head = f"  {truth.device_id} {truth.failure_mode}"
        lines.append(f"{head}: case {after_onset:.1f} h after onset{before}")
        if truth.device_id in states:
            lines.append(f"    now: {states[truth.device_id]}")
    healthy = {d.device_id for d in fleet.devices} - {t.device_id for t in fleet.truth()}
    false = sorted(set(first_event) & healthy)
    lines.append(f"Healthy devices with an anomaly: {len(false)} {false[:5] if false else ''}")
    return "\n".join(lines)
