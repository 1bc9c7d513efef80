"""Notices to the service team: the agent is told when a case of theirs escalates or is
re-routed (to the previous and to the new assignee).

``tell_agent`` writes an ``agent_notices`` row in the caller's transaction (with the
escalation that causes it) and a timeline entry ``agent_told``. ``AgentNoticeSender``
delivers due rows to the agent's e-mail (``mailto://`` through the Apprise channel and
the SMTP relay of ``notify.smtp``), or in log mode to one JSON file per notice in
``<outbox_dir>-agents/`` (next to the customers' outbox, which stays theirs alone). A
failed send is retried with doubling waits (``notify.backoff_s``) up to
``notify.max_attempts``, then marked failed. Delivery is at least once: the file name and
the ``Idempotency-Key`` of the e-mail let a receiver drop a repeat after a crash.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from tickets import lifecycle
from tickets.channels import Channel, LogChannel, OutgoingMessage
from tickets.models import Agent, AgentNotice, Case
from tickets.retry import backoff
from tickets.settings import TicketsConfig

log = logging.getLogger(__name__)
TEXT: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "escalated": (
            "Case #{case_id} escalated to {severity}",
            "Your case #{case_id} ({title}) is now {severity}: {why}\nSLA due {sla}.",
        ),
        "rerouted_away": (
            "Case #{case_id} went to {other}",
            "Case #{case_id} ({title}) escalated to {severity}, which needs tier {tier}: "
            "it is now {other}'s. Nothing more is needed from you.",
        ),
        "rerouted_to": (
            "Case #{case_id} ({severity}) is now yours",
            "Case #{case_id} ({title}) escalated to {severity} and is now yours{previous}: "
            "{why}\nSLA due {sla}.",
        ),
    },
    "ja": {
        "escalated": (
            "ケース #{case_id} の重要度が「{severity}」に上がりました",
            "担当中のケース #{case_id}({title})の重要度が {severity} になりました: {why}\n"
            "SLA 期限 {sla}。",
        ),
        "rerouted_away": (
            "ケース #{case_id} は {other} さんに移りました",
            "ケース #{case_id}({title})は重要度 {severity}(ティア {tier} 以上が担当)に"
            "なったため、{other} さんの担当になりました。対応は不要です。",
        ),
        "rerouted_to": (
            "ケース #{case_id}({severity})の担当になりました",
            "ケース #{case_id}({title})は重要度 {severity} になり、あなたの担当になりました"
            "{previous}: {why}\nSLA 期限 {sla}。",
        ),
    },
}
PREVIOUS = {"en": " (from {name})", "ja": "({name} さんから)"}
SEVERITY_JA = {"low": "低", "medium": "中", "high": "高", "critical": "緊急"}


def tell_agent(
    session: Session,
    case: Case,
    agent: Agent,
    kind: str,
    now: datetime,
    actor: str,
    other: Agent | None = None,
    tier: int = 1,
) -> AgentNotice:
    """Queue a notice of ``kind`` about ``case`` for ``agent`` (``other``: the agent the
    case went to, or came from) in the agent's first language, and note it on the
    timeline."""
    locale = "ja" if agent.languages[:1] == ["ja"] else "en"
    subject, body = TEXT[locale][kind]
    facts = _facts(case, other, tier, locale)
    row = AgentNotice(
        agent_id=agent.id,
        case_id=case.id,
        kind=kind,
        locale=locale,
        subject=subject.format(**facts)[:300],
        body=body.format(**facts),
        idempotency_key=f"kizuki-agent-{case.id}-{kind}-{uuid.uuid4().hex}",
        status="pending",
        attempts=0,
        next_attempt_at=now,
        last_error="",
        created_at=now,
    )
    session.add(row)
    lifecycle.log(
        session,
        case,
        actor,
        "agent_told",
        now,
        agent_id=agent.id,
        agent_name=agent.name,
        about=kind,
    )
    return row


def _facts(case: Case, other: Agent | None, tier: int, locale: str) -> dict[str, Any]:
    why = case.explanation.get("text") or ""
    previous = PREVIOUS[locale].format(name=other.name) if other is not None else ""
    return {
        "case_id": case.id,
        "title": case.title,
        "severity": SEVERITY_JA.get(case.severity, case.severity)
        if locale == "ja"
        else case.severity,
        "why": why,
        "sla": case.sla_due_at.strftime("%Y-%m-%d %H:%M UTC"),
        "other": other.name if other is not None else "",
        "previous": previous,
        "tier": tier,
    }


def agent_outbox(outbox_dir: Path) -> Path:
    """Where log mode writes agent notices: ``<outbox_dir>-agents``."""
    return outbox_dir.with_name(f"{outbox_dir.name}-agents")


class AgentNoticeSender:
    """Sends due agent notices; ``run_once()`` is one pass (the dispatcher calls it)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: TicketsConfig,
        channels: Mapping[str, Channel],
        clock: Clock = time.time,
        batch_size: int = 50,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.channels = channels
        self.clock = clock
        self.batch_size = batch_size
        self._log: LogChannel | None = None

    def run_once(self) -> int:
        """Send every due notice once (up to ``batch_size``); returns how many were tried.
        On PostgreSQL the rows are locked (``SKIP LOCKED``) while they are sent, so two
        dispatchers never send the same one."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        with self.session_factory.begin() as session:
            query = (
                select(AgentNotice)
                .where(AgentNotice.status == "pending", AgentNotice.next_attempt_at <= now)
                .order_by(AgentNotice.id)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query))
            for row in rows:
                self._send(row, now)
        return len(rows)

    def _send(self, row: AgentNotice, now: datetime) -> None:
        channel, url = self._target(row.agent)
        message = OutgoingMessage(
            idempotency_key=row.idempotency_key,
            subject=row.subject,
            short_body=row.subject,
            long_body=row.body,
            locale=row.locale,
            kind=f"agent_{row.kind}",
            case_id=row.case_id,
            customer_id=f"agent:{row.agent_id}",
            channel="email",
        )
        result = channel.send(url, message)
        row.attempts += 1
        if result.ok:
            row.status, row.sent_at, row.last_error = "sent", now, ""
            return
        row.last_error = result.error[:2000]
        notify = self.settings.notify
        if not result.recoverable or row.attempts >= notify.max_attempts:
            row.status = "failed"
            log.warning("agent notice %s to %s failed: %s", row.id, row.agent.email, result.error)
            return
        row.next_attempt_at = now + backoff(self.settings, row.attempts)

    def _target(self, agent: Agent) -> tuple[Channel, str]:
        if self.settings.notify.mode == "log":
            if self._log is None:
                self._log = LogChannel(agent_outbox(self.settings.outbox_dir))
            return self._log, "log://"
        return self.channels["apprise"], f"mailto://{agent.email}"
