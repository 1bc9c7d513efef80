"""Where every customer message comes in: stored in its case, then answered or handed off.

``accept`` is what the SMTP endpoint (``tickets.inbound_mail``) and the signed webhooks
(``api.routes.inbound``) call; one transaction stores the message and the self-service
turn, so the agent who takes over sees both or neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, utc
from core.profiles import DeviceProfile
from tickets.conversation import Inbound, receive
from tickets.selfservice import Reply, respond


@dataclass(frozen=True, slots=True)
class Accepted:
    """Where a customer message went and what self-service did with it."""

    case_id: int
    message_id: int
    reply: Reply


def accept(
    session_factory: sessionmaker[Session],
    profiles: Mapping[str, DeviceProfile],
    inbound: Inbound,
    clock: Clock,
    self_service: bool = True,
) -> Accepted:
    """Store ``inbound`` in its case and let self-service answer (raises
    ``tickets.conversation.NoMatchingCase`` / ``ConversationError``)."""
    now = utc(clock())
    with session_factory.begin() as session:
        message = receive(session, inbound, now)
        case = message.case
        reply = respond(session, case, message, profiles, now) if self_service else Reply("quiet")
        return Accepted(case.id, message.id, reply)
