"""Bodies of a case's conversation: messages out and in, and inbound webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas.common import MAX_ID, NOT_BOOL, body, ex

MESSAGE = {
    "id": 7,
    "case_id": 42,
    "direction": "out",
    "channel": "sms",
    "author": "user:sato",
    "body": "A technician will call you tomorrow morning.",
    "at": "2026-12-05T09:30:00Z",
    "delivery": "sent",
}
InboundChannel = Literal["sms", "chat", "line", "whatsapp", "email"]


class MessagePublic(BaseModel):
    """One turn of a case's conversation; ``delivery`` is the outbound notice's status."""

    model_config = ex(MESSAGE)
    id: int
    case_id: int
    direction: Literal["in", "out"]
    channel: str
    author: str
    body: str
    at: datetime
    delivery: str = ""


class MessagesPublic(BaseModel):
    model_config = ex({"data": [MESSAGE], "count": 1})
    data: list[MessagePublic]
    count: int


class MessageBody(BaseModel):
    model_config = body({"text": "A technician will call you tomorrow morning."})
    text: str = Field(min_length=1, max_length=4000)


class InboundBody(BaseModel):
    """A customer's message relayed by an SMS, chat or LINE gateway."""

    model_config = body({"from": "+819012345678", "text": "The pump is rattling.", "case_id": 42})
    sender: str = Field(alias="from", min_length=3, max_length=320)
    text: str = Field(min_length=1, max_length=4000)
    case_id: Annotated[int, Field(ge=1, le=MAX_ID), NOT_BOOL] | None = None


class InboundAccepted(BaseModel):
    model_config = ex(
        {"case_id": 42, "message_id": 8, "outcome": "answered", "article": "pump-bearing-wear"}
    )
    case_id: int
    message_id: int
    outcome: Literal["answered", "handed_off", "quiet"]
    article: str = ""
