"""Response and request bodies of the JSON API (``Public`` = what a client sees).

Times of case records are ISO 8601 UTC; telemetry timestamps are float seconds since
the epoch, as everywhere inside the engine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SeverityName = Literal["low", "medium", "high", "critical"]
StatusName = Literal["open", "acknowledged", "in_progress", "resolved", "closed"]
_T0 = "2026-11-20T08:00:00Z"


def _ex(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(from_attributes=True, json_schema_extra={"examples": [example]})


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = _ex(
        {
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
            "detail": "This needs the agent role.",
            "instance": "/api/v1/cases/7/resolve",
        }
    )
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, bool]


class ReadingPublic(BaseModel):
    model_config = _ex(
        {
            "device_id": "ac-00001",
            "ts": 1795680000.0,
            "metrics": {"filter_dp_pa": 88.5, "fan_rpm": 1190.0},
        }
    )
    device_id: str
    ts: float
    metrics: dict[str, float]


class DevicePublic(BaseModel):
    model_config = _ex(
        {
            "id": "ac-00001",
            "model": "aircon-x1",
            "product_line": "air-conditioning",
            "customer_id": "c-0001",
            "health": "degraded",
            "open_cases": 1,
            "latest": None,
        }
    )
    id: str
    model: str
    product_line: str
    customer_id: str | None
    health: Literal["healthy", "degraded", "unknown"]
    open_cases: int
    latest: ReadingPublic | None = None


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int


class TelemetryPublic(BaseModel):
    model_config = _ex(
        {
            "device_id": "ac-00001",
            "metric": "filter_dp_pa",
            "unit": "Pa",
            "start": 1795600000.0,
            "end": 1795680000.0,
            "every": 3600.0,
            "points": [[1795600000.0, 61.2], [1795603600.0, 62.0]],
        }
    )
    device_id: str
    metric: str
    unit: str
    start: float
    end: float
    every: float | None = Field(description="Averaging bucket in seconds; null = raw points.")
    points: list[tuple[float, float]] = Field(description="[ts, value] pairs, oldest first.")


class ExplanationPublic(BaseModel):
    model_config = _ex(
        {
            "metric": "filter_dp_pa",
            "unit": "Pa",
            "expected": 55.0,
            "observed": 96.0,
            "trend_per_day": 6.1,
            "limit": 150.0,
            "eta_ts": 1796300000.0,
            "detectors": ["trend"],
            "text": "...",
        }
    )
    metric: str = ""
    unit: str = ""
    expected: float | None = None
    observed: float | None = None
    trend_per_day: float | None = None
    limit: float | None = None
    eta_ts: float | None = None
    detectors: list[str] = []
    text: str = ""


class AgentBrief(BaseModel):
    id: int
    name: str


class CasePublic(BaseModel):
    model_config = _ex(
        {
            "id": 7,
            "device_id": "ac-00001",
            "customer_id": "c-0001",
            "model": "aircon-x1",
            "product_line": "air-conditioning",
            "failure_mode": "filter_clog",
            "failure_mode_title": "Clogged air filter",
            "kb_article": "ac-filter-clog",
            "status": "open",
            "severity": "low",
            "priority": 4,
            "title": "Clogged air filter on ac-00001",
            "score": 0.93,
            "quiet": False,
            "assignee": {"id": 2, "name": "Sato"},
            "sla_due_at": _T0,
            "opened_at": _T0,
            "updated_at": _T0,
            "started_at": _T0,
            "last_anomaly_at": _T0,
            "anomaly_count": 3,
            "acknowledged_at": None,
            "resolved_at": None,
            "closed_at": None,
        }
    )
    id: int
    device_id: str
    customer_id: str | None
    model: str
    product_line: str
    failure_mode: str
    failure_mode_title: str = ""
    kb_article: str
    status: StatusName
    severity: SeverityName
    priority: int
    title: str
    score: float
    quiet: bool
    assignee: AgentBrief | None
    sla_due_at: datetime
    opened_at: datetime
    updated_at: datetime
    started_at: datetime
    last_anomaly_at: datetime
    anomaly_count: int
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int = Field(description="Cases matching the filters (all pages).")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class CaseEventPublic(BaseModel):
    model_config = _ex(
        {"id": 1, "at": _T0, "actor": "user:demo", "kind": "acknowledged", "detail": {}}
    )
    id: int
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any]


class DeliveryAttemptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    channel: str
    ok: bool
    error: str
    recoverable: bool


class NotificationPublic(BaseModel):
    model_config = _ex(
        {
            "id": 3,
            "kind": "detected",
            "locale": "ja",
            "channel": "email",
            "status": "sent",
            "subject": "...",
            "short_body": "...",
            "attempts": 1,
            "last_error": "",
            "created_at": _T0,
            "sent_at": _T0,
            "delivery_attempts": [],
        }
    )
    id: int
    kind: str
    locale: str
    channel: str
    status: str
    subject: str
    short_body: str
    attempts: int
    last_error: str
    created_at: datetime
    sent_at: datetime | None
    delivery_attempts: list[DeliveryAttemptPublic]


class FeedbackPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    notification_id: int
    vote: Literal["up", "down"] | str
    comment: str
    at: datetime


class CaseDetail(CasePublic):
    explanation: ExplanationPublic
    timeline: list[CaseEventPublic]
    notifications: list[NotificationPublic]
    feedback: list[FeedbackPublic]


class AnomalyPublic(BaseModel):
    """The degradation behind a case, as detection described it."""

    model_config = _ex(
        {
            "case_id": 7,
            "device_id": "ac-00001",
            "model": "aircon-x1",
            "failure_mode": "filter_clog",
            "severity": "low",
            "score": 0.93,
            "started_at": _T0,
            "last_anomaly_at": _T0,
            "anomaly_count": 3,
            "explanation": {"metric": "filter_dp_pa", "unit": "Pa"},
        }
    )
    case_id: int
    device_id: str
    model: str
    failure_mode: str
    severity: SeverityName
    score: float
    started_at: datetime
    last_anomaly_at: datetime
    anomaly_count: int
    explanation: ExplanationPublic


class AnomaliesPublic(BaseModel):
    data: list[AnomalyPublic]
    count: int


class AssignBody(BaseModel):
    model_config = _ex({"agent_id": 2})
    agent_id: int = Field(ge=1)


class NoteBody(BaseModel):
    model_config = _ex({"text": "Called the customer; filter replacement booked for Friday."})
    text: str = Field(min_length=1, max_length=4000)


class ActionBody(BaseModel):
    model_config = _ex({"note": "Filter replaced on site."})
    note: str = Field(default="", max_length=4000)


class ContactPublic(BaseModel):
    id: int
    channel: str
    url: str = Field(description="Apprise URL with any credentials removed.")
    preference: int
    enabled: bool


class CustomerPublic(BaseModel):
    model_config = _ex(
        {
            "id": "c-0001",
            "name": "Yamada Taro",
            "locale": "ja",
            "timezone": "Asia/Tokyo",
            "tier": "standard",
            "opted_out": False,
            "contacts": [
                {
                    "id": 1,
                    "channel": "email",
                    "preference": 0,
                    "url": "mailto://yamada@example.com",
                    "enabled": True,
                }
            ],
        }
    )
    id: str
    name: str
    locale: str
    timezone: str
    tier: str
    opted_out: bool
    contacts: list[ContactPublic]


class CustomersPublic(BaseModel):
    data: list[CustomerPublic]
    count: int


class AgentPublic(BaseModel):
    model_config = _ex(
        {
            "id": 2,
            "name": "Sato",
            "email": "sato@example.com",
            "product_lines": ["air-conditioning"],
            "skills": ["aircon-maintenance"],
            "languages": ["ja", "en"],
            "capacity": 5,
            "active": True,
            "open_cases": 2,
        }
    )
    id: int
    name: str
    email: str
    product_lines: list[str]
    skills: list[str]
    languages: list[str]
    capacity: int
    active: bool
    open_cases: int


class AgentsPublic(BaseModel):
    data: list[AgentPublic]
    count: int


class KbArticlePublic(BaseModel):
    model_config = _ex(
        {
            "id": "ac-filter-clog",
            "locale": "en",
            "title": "The air filter is clogging",
            "summary": "...",
            "action": "...",
            "steps": ["..."],
            "call_us": "...",
            "failure_modes": ["aircon-x1/filter_clog"],
        }
    )
    id: str
    locale: str
    title: str
    summary: str
    action: str
    steps: list[str]
    call_us: str
    failure_modes: list[str] = Field(description="model/failure_mode pairs this article answers.")


class KbArticlesPublic(BaseModel):
    data: list[KbArticlePublic]
    count: int


class DeadLetterPublic(BaseModel):
    model_config = _ex(
        {
            "id": 12,
            "topic": "devices/ac-00001/telemetry",
            "reason": "bad_json",
            "detail": "Expecting value: line 1 column 1",
            "received_at": 1795680000.0,
            "payload": "{not json",
            "payload_bytes": 9,
        }
    )
    id: int | None
    topic: str
    reason: str
    detail: str
    received_at: float
    payload: str = Field(
        description="The raw payload as UTF-8 (undecodable bytes replaced), cut at 4 KiB."
    )
    payload_bytes: int


class DeadLettersPublic(BaseModel):
    data: list[DeadLetterPublic]
    count: int
    next_cursor: int | None = Field(description="Pass as ?before_id= for older letters.")
    counts: dict[str, int] = Field(description="Dead letters kept, per reason.")


class ApiKeyCreate(BaseModel):
    model_config = _ex({"name": "grafana", "role": "viewer"})
    name: str = Field(min_length=1, max_length=80)
    role: Literal["viewer", "agent", "admin"]


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]
    count: int


class ApiKeyCreated(BaseModel):
    name: str
    role: str
    key: str = Field(description="The key itself; shown only once.")
