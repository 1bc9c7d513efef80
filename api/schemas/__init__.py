"""Response and request bodies of the JSON API (``Public`` = what a client sees).

Times of case records are ISO 8601 UTC; telemetry timestamps are float seconds since
the epoch, as everywhere inside the engine.
"""

from __future__ import annotations

from api.schemas.admin import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeysPublic,
    DeadLetterPublic,
    DeadLettersPublic,
    KbArticlePublic,
    KbArticlesPublic,
)
from api.schemas.cases import (
    ActionBody,
    AgentBrief,
    AnomaliesPublic,
    AnomalyPublic,
    AssignBody,
    CaseDetail,
    CaseEventPublic,
    CasePublic,
    CasesPublic,
    DeliveryAttemptPublic,
    ExplanationPublic,
    FeedbackPublic,
    LinkBody,
    NoteBody,
    NotificationPublic,
    ResolveBody,
    ReviewBody,
)
from api.schemas.common import (
    Health,
    Problem,
    Readiness,
    SeverityName,
    StatusName,
)
from api.schemas.fleet import (
    DevicePublic,
    DevicesPublic,
    ReadingPublic,
    TelemetryPublic,
)
from api.schemas.people import (
    AgentPublic,
    AgentsPublic,
    ContactPublic,
    CustomerPublic,
    CustomersPublic,
)

__all__ = [
    "ActionBody",
    "AgentBrief",
    "AgentPublic",
    "AgentsPublic",
    "AnomaliesPublic",
    "AnomalyPublic",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyPublic",
    "ApiKeysPublic",
    "AssignBody",
    "CaseDetail",
    "CaseEventPublic",
    "CasePublic",
    "CasesPublic",
    "ContactPublic",
    "CustomerPublic",
    "CustomersPublic",
    "DeadLetterPublic",
    "DeadLettersPublic",
    "DeliveryAttemptPublic",
    "DevicePublic",
    "DevicesPublic",
    "ExplanationPublic",
    "FeedbackPublic",
    "Health",
    "KbArticlePublic",
    "KbArticlesPublic",
    "LinkBody",
    "NoteBody",
    "NotificationPublic",
    "Problem",
    "Readiness",
    "ReadingPublic",
    "SeverityName",
    "StatusName",
    "ResolveBody",
    "ReviewBody",
    "TelemetryPublic",
]
