"""Cases, their timeline, notifications and feedback, anomalies, and action bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas import examples as ex_
from api.schemas.common import (
    MAX_ID,
    AgentResolutionName,
    BoolIn,
    IntIn,
    ResolutionName,
    ReviewName,
    SeverityName,
    StatusName,
    body,
    ex,
)


class ExplanationPublic(BaseModel):
    """Why detection raised the anomaly, in numbers an agent can check."""

    model_config = ex(ex_.EXPLANATION)
    metric: str = Field(default="", description="The metric that moved (a profile metric id).")
    unit: str = ""
    expected: float | None = Field(default=None, description="What the healthy device reads.")
    observed: float | None = Field(default=None, description="What it read instead.")
    trend_per_day: float | None = Field(default=None, description="Drift per day, in unit.")
    limit: float | None = Field(default=None, description="Where the customer notices.")
    eta_ts: float | None = Field(
        default=None, description="Predicted crossing of the limit (epoch seconds)."
    )
    eta_range: list[float] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="The interval around eta_ts: [earliest, latest] epoch seconds; null "
        "when detection gives no basis for one. Follows the newest evidence while open.",
    )
    detectors: list[str] = Field(default=[], description="The detectors that fired.")
    text: str = Field(default="", description="Detection's own one-line summary (English).")


class AgentBrief(BaseModel):
    model_config = ex(ex_.AGENT_BRIEF)
    id: int
    name: str


class CasePublic(BaseModel):
    """A case as the queue lists it."""

    model_config = ex(ex_.CASE)
    id: int
    device_id: str
    customer_id: str | None
    model: str
    product_line: str
    failure_mode: str
    failure_mode_title: str = Field(default="", description="In the asker's language.")
    kb_article: str
    status: StatusName
    severity: SeverityName
    priority: int = Field(description="1 is the most urgent.")
    title: str
    score: float
    quiet: bool = Field(description="Opened without telling the customer.")
    assignee: AgentBrief | None
    sla_due_at: datetime
    opened_at: datetime = Field(description="First detection: when the case was opened.")
    updated_at: datetime
    started_at: datetime = Field(description="When the degradation began, per detection.")
    last_anomaly_at: datetime
    anomaly_count: int
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution_code: ResolutionName | None = Field(
        default=None, description="What the resolver said happened (null while open)."
    )
    resolution_note: str = Field(default="", description="The resolver's note.")
    review_state: ReviewName | None = Field(
        default=None,
        description="'customer_disagrees' while a customer's thumbs-down waits for an agent.",
    )
    external_ref: str = Field(default="", description="The case's id in another helpdesk.")


class CasesPublic(BaseModel):
    model_config = ex(ex_.listing(ex_.CASE, next_cursor="eyJzIjoic2xhX2R1ZV9hdCJ9"))
    data: list[CasePublic]
    count: int = Field(description="Cases matching the filters (all pages).")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= (with the same sort) for the next page; null on the last."
    )


class CaseEventPublic(BaseModel):
    """One timeline entry; ``detail`` depends on ``kind``."""

    model_config = ex(ex_.CASE_EVENT)
    id: int
    at: datetime
    actor: str = Field(description="'kizuki', 'dispatcher', 'user:<name>', 'key:<name>'...")
    kind: str
    detail: dict[str, Any]


class DeliveryAttemptPublic(BaseModel):
    """One try at delivering a notification on one channel."""

    model_config = ex(ex_.DELIVERY_ATTEMPT)
    id: int
    at: datetime
    channel: str
    ok: bool
    error: str
    recoverable: bool = Field(description="A failure that will be retried.")


class NotificationPublic(BaseModel):
    """A message to the customer (the outbox row) and its delivery attempts."""

    model_config = ex(ex_.NOTIFICATION)
    id: int
    kind: str = Field(description="detected, update or all_clear.")
    locale: str
    channel: str
    status: str
    subject: str
    short_body: str = Field(
        description="The SMS/chat text the customer got, feedback links replaced by "
        "'[feedback link]' ('[評価リンク]' in Japanese): staff must not vote in the "
        "customer's name."
    )
    long_body: str = Field(description="The e-mail text, feedback links replaced likewise.")
    redacted: bool = Field(
        default=False,
        description="True for callers below the agent role: the bodies (which hold the "
        "customer's name and details) are empty, addresses in errors masked.",
    )
    attempts: int
    last_error: str
    created_at: datetime
    sent_at: datetime | None
    delivery_attempts: list[DeliveryAttemptPublic]


class FeedbackPublic(BaseModel):
    """The customer's vote on a notification."""

    model_config = ex(ex_.FEEDBACK)
    id: int
    notification_id: int
    vote: str = Field(description="up or down.")
    comment: str
    at: datetime


class CaseDetail(CasePublic):
    """A case in full: what the case page shows."""

    model_config = ex(ex_.CASE_DETAIL)
    explanation: ExplanationPublic
    timeline: list[CaseEventPublic]
    notifications: list[NotificationPublic]
    feedback: list[FeedbackPublic]


class AnomalyPublic(BaseModel):
    """The degradation behind a case, as detection described it."""

    model_config = ex(ex_.ANOMALY)
    case_id: int
    device_id: str
    model: str
    failure_mode: str
    severity: SeverityName
    score: float
    started_at: datetime
    last_anomaly_at: datetime
    anomaly_count: int = Field(description="Detections folded into the case.")
    explanation: ExplanationPublic


class AnomaliesPublic(BaseModel):
    model_config = ex(ex_.listing(ex_.ANOMALY))
    data: list[AnomalyPublic]
    count: int


class AssignBody(BaseModel):
    model_config = body({"agent_id": 2})
    agent_id: IntIn = Field(ge=1, le=MAX_ID, description="The agent to assign the case to.")
    override_reason: str = Field(
        default="",
        max_length=500,
        description="Why an agent who lacks the product line, skill or language gets it.",
    )


# an id in another helpdesk: ASCII letters, digits and _.:/#- (spelled out, not \w: the
# OpenAPI document's patterns are ECMA-262, where \w is ASCII only, while Python's and
# pydantic's \w take any letter, so the server accepted ids its own schema refused)
EXTERNAL_REF = r"^[A-Za-z0-9_.:/#-]*$"


class LinkBody(BaseModel):
    model_config = body({"external_ref": "ZD-48213"})
    external_ref: str = Field(
        max_length=120, pattern=EXTERNAL_REF, description="'' removes the link."
    )


class NoteBody(BaseModel):
    model_config = body({"text": "Called the customer; filter replacement booked for Friday."})
    text: str = Field(min_length=1, max_length=4000)


class ResolveBody(BaseModel):
    model_config = body(
        {"code": "repaired_on_site", "note": "Filter replaced on site.", "confirm": False}
    )
    code: AgentResolutionName = Field(description="What happened; decides the customer's message.")
    note: str = Field(min_length=1, max_length=4000, description="What was done, and by whom.")
    confirm: BoolIn = Field(
        default=False,
        description="Resolve as fixed although the device's telemetry is still out of range "
        "(409 without it); the customer then hears 'fixed, we are watching'.",
    )


class ReviewBody(BaseModel):
    model_config = body({"note": "Checked the readings with the customer: the fault is real."})
    note: str = Field(min_length=1, max_length=4000)


class ActionBody(BaseModel):
    model_config = body({"note": "Filter replaced on site."})
    note: str = Field(default="", max_length=4000)
