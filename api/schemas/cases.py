"""Cases, their timeline, notifications and feedback, anomalies, and action bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import MAX_ID, T0, SeverityName, StatusName, ex


class ExplanationPublic(BaseModel):
    model_config = ex(
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
    model_config = ex(
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
            "sla_due_at": T0,
            "opened_at": T0,
            "updated_at": T0,
            "started_at": T0,
            "last_anomaly_at": T0,
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
    model_config = ex(
        {"id": 1, "at": T0, "actor": "user:demo", "kind": "acknowledged", "detail": {}}
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
    model_config = ex(
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
            "created_at": T0,
            "sent_at": T0,
            "delivery_attempts": [],
        }
    )
    id: int
    kind: str
    locale: str
    channel: str
    status: str
    subject: str
    short_body: str = Field(
        description="The SMS/chat text the customer got, feedback links replaced by "
        "'[feedback link]' (staff must not vote in the customer's name)."
    )
    long_body: str = Field(description="The e-mail text, feedback links replaced likewise.")
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

    model_config = ex(
        {
            "case_id": 7,
            "device_id": "ac-00001",
            "model": "aircon-x1",
            "failure_mode": "filter_clog",
            "severity": "low",
            "score": 0.93,
            "started_at": T0,
            "last_anomaly_at": T0,
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
    model_config = ex({"agent_id": 2})
    agent_id: int = Field(ge=1, le=MAX_ID, description="The agent to assign the case to.")


class NoteBody(BaseModel):
    model_config = ex({"text": "Called the customer; filter replacement booked for Friday."})
    text: str = Field(min_length=1, max_length=4000)


class ActionBody(BaseModel):
    model_config = ex({"note": "Filter replaced on site."})
    note: str = Field(default="", max_length=4000)
