"""What the service-desk parts of the pages show: a case's conversation, a customer's
whole history, and which agents fit a case (skills, languages, load)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.queries import open_case_counts
from core.profiles import DeviceProfile
from tickets.conversation import thread
from tickets.fit import lacks
from tickets.kb import KbError
from tickets.language import language_of
from tickets.models import Agent, Case, Customer, Message
from tickets.outbox import first_contact
from tickets.routing import need_of
from tickets.selfservice import BOT, answer_text


@dataclass
class Turn:
    """One message as the page shows it."""

    id: int
    direction: str
    channel: str
    author: str  # raw: user:sato | bot | customer:c-1
    who: str
    body: str
    at: datetime
    lang: str | None
    delivery: str
    case_id: int


@dataclass
class Conversation:
    """A case's thread and what the reply form needs."""

    turns: list[Turn]
    customer_id: str | None = None
    channel: str = ""
    locale: str = "en"
    snippet: str = ""


def turn(m: Message, customer: Customer | None, bot_name: str) -> Turn:
    """A stored message for display; the customer's and the bot's words are in the
    customer's language, an agent's as typed."""
    kind, _sep, name = m.author.partition(":")
    who = (customer.name if customer else name) if kind == "customer" else name or m.author
    if m.author == BOT:
        who = bot_name
    lang = customer.locale if customer and (kind == "customer" or m.author == BOT) else None
    delivery = m.notification.status if m.notification is not None else ""
    return Turn(
        m.id, m.direction, m.channel, m.author, who, m.body, m.at, lang, delivery, m.case_id
    )


def conversation(db: Session, case: Case, bot_name: str) -> Conversation:
    """The thread of ``case`` with the reply form's channel and KB snippet."""
    customer = case.customer
    turns = [turn(m, customer, bot_name) for m in thread(db, case.id)]
    if customer is None:
        return Conversation(turns)
    contact = first_contact(customer)
    channel = contact.channel if contact else "log"
    locale = language_of(customer.locale)
    try:
        snippet = answer_text(case.kb_article, locale, case.id, channel) if case.kb_article else ""
    except KbError:
        snippet = ""
    return Conversation(turns, customer.id, channel, locale, snippet)


@dataclass
class Fit:
    """How well an agent fits a case, for the assign list."""

    agent: Agent
    load: int
    problems: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.problems


def fits(db: Session, case: Case, profiles: Mapping[str, DeviceProfile]) -> list[Fit]:
    """Every active agent with their load and what they lack for ``case`` (product line,
    skill, language); fitting agents first, then by load."""
    need = need_of(case, profiles)
    load = open_case_counts(db, Case.assignee_id)
    found = []
    for agent in db.scalars(select(Agent).where(Agent.active).order_by(Agent.name)):
        problems = lacks(agent, need)
        if load.get(agent.id, 0) >= agent.capacity:
            problems.append("capacity")
        found.append(Fit(agent, load.get(agent.id, 0), problems))
    return sorted(found, key=lambda f: (not f.fits, f.load, f.agent.name))


def awaiting_reply(db: Session, case_ids: list[int]) -> set[int]:
    """Of ``case_ids``, those whose latest message is the customer's (nobody answered)."""
    if not case_ids:
        return set()
    latest: dict[int, str] = {}
    rows = db.execute(
        select(Message.case_id, Message.direction)
        .where(Message.case_id.in_(case_ids), Message.author != BOT)
        .order_by(Message.at, Message.id)
    )
    for case_id, direction in rows:
        latest[case_id] = direction
    return {case_id for case_id, direction in latest.items() if direction == "in"}
