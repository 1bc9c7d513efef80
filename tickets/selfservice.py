"""Self-service first, a person one step away.

When a customer writes, Kizuki answers with the knowledge-base article that matches
their question among their product's articles (``tickets.answers``), in their language,
and says how to reach a person. It hands the conversation to the service team when the
customer asks for a person, when no article is a clear match, or when nothing it knows
fits (scheduling, billing...). Once a person has written in the case, or after a
hand-off, it stays quiet: the agent has the whole thread.

Every automated turn is a ``Message`` by ``bot`` (and goes out through the outbox like
an agent's), and a hand-off is a ``handoff`` timeline entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.profiles import DeviceProfile
from tickets import lifecycle, sms
from tickets.answers import best_answer, product_articles
from tickets.conversation import ConversationError, post, short_form
from tickets.kb import load_article
from tickets.models import Case, CaseEvent, Message

BOT = "bot"
Outcome = Literal["answered", "handed_off", "quiet"]
EVAL_SET = Path(__file__).with_name("kb") / "eval_questions.yaml"
PERSON = {
    "en": re.compile(
        r"\b(agent|person|human|someone|somebody|operator|call me|speak|talk|technician|"
        r"engineer|visit|appointment|schedule|invoice|bill|billing|cancel|contract|refund)\b",
        re.IGNORECASE,
    ),
    "ja": re.compile(
        r"担当|人と|オペレーター|電話|話したい|技術者|訪問|いつ来|請求|解約|契約|返金"
    ),
}
THANKS = {
    "en": re.compile(r"^\W*(thanks?|thank you|ok(ay)?|great|got it)\b", re.IGNORECASE),
    "ja": re.compile(r"^(ありがとう|了解|わかりました|承知)"),
}
REACH = {
    "en": "Reply AGENT to reach a person.",
    "ja": "担当者とのやり取りをご希望の場合は「担当者」と返信してください。",
}
HANDOFF = {
    "en": "Thank you. A member of our service team will reply to you here.",
    "ja": "ありがとうございます。サービス担当者がこちらでご返信いたします。",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """What the answerer decided for one customer message."""

    outcome: Outcome
    article: str = ""
    reason: str = ""


def decide(
    text: str,
    locale: str,
    model: str,
    profiles: Mapping[str, DeviceProfile],
    case_article: str = "",
) -> Reply:
    """Answer with an article or hand off (pure: no database). ``case_article`` (the
    open case's own article) wins a near tie: it is what the customer was told about."""
    lang = "ja" if locale == "ja" else "en"
    if PERSON[lang].search(text):
        return Reply("handed_off", reason="asked for a person")
    if THANKS[lang].search(text.strip()):
        return Reply("handed_off", reason="no question to answer")
    found = best_answer(text, lang, product_articles(profiles, model), prefer=case_article)
    if found is None:
        return Reply("handed_off", reason="no clear answer in the knowledge base")
    return Reply("answered", article=found.article, reason=f"BM25 {found.score:.2f}")


def answer_text(article_id: str, locale: str, case_id: int, channel: str) -> str:
    """The article as a chat/SMS answer, with how to reach a person; on SMS it fits
    ``sms.MAX_SEGMENTS`` with the case number (the action is kept, the summary may go)."""
    a = load_article(article_id, locale)
    gap = "" if a.locale == "ja" else " "
    reach = REACH[a.locale if a.locale in REACH else "en"]
    full = gap.join((a.summary, a.action, reach))
    if channel != "sms":
        return full
    tail = short_form("", case_id, a.locale)
    for text in (full, gap.join((a.action, reach))):
        if sms.segments(short_form(text, case_id, a.locale)) <= sms.MAX_SEGMENTS:
            return text
    return sms.fit(a.action, tail=gap + reach + tail).removesuffix(tail)


def person_involved(session: Session, case_id: int) -> bool:
    """True once an agent wrote in the case or the case was handed off."""
    wrote = session.scalar(
        select(Message.id)
        .where(Message.case_id == case_id, Message.direction == "out", Message.author != BOT)
        .limit(1)
    )
    handed = session.scalar(
        select(CaseEvent.id).where(CaseEvent.case_id == case_id, CaseEvent.kind == "handoff")
    )
    return wrote is not None or handed is not None


def respond(
    session: Session,
    case: Case,
    message: Message,
    profiles: Mapping[str, DeviceProfile],
    now: datetime,
) -> Reply:
    """Answer ``message`` (a customer's, already stored) or hand the case to a person."""
    if person_involved(session, case.id):
        return Reply("quiet", reason="a person has the conversation")
    locale = case.customer.locale if case.customer else "en"
    reply = decide(message.body, locale, case.model, profiles, case.kb_article)
    if reply.outcome == "answered":
        channel = _channel(case)
        try:
            post(session, case, BOT, answer_text(reply.article, locale, case.id, channel), now)
            return reply
        except ConversationError as exc:
            reply = Reply("handed_off", reason=f"answer not sendable: {exc}")
    post(session, case, BOT, HANDOFF["ja" if locale == "ja" else "en"], now)
    lifecycle.log(session, case, BOT, "handoff", now, reason=reply.reason, channel=message.channel)
    return reply


def _channel(case: Case) -> str:
    customer = case.customer
    contact = next((c for c in customer.contacts if c.enabled), None) if customer else None
    return contact.channel if contact else "log"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Answer accuracy on the labelled questions, per language, and the hand-off rate."""

    total: int
    correct: int
    handed_off: int
    by_locale: dict[str, tuple[int, int]]  # locale -> (correct, total)
    misses: list[str]

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def handoff_rate(self) -> float:
        return self.handed_off / self.total if self.total else 0.0


def evaluate(profiles: Mapping[str, DeviceProfile], path: Path = EVAL_SET) -> Evaluation:
    """Run ``decide`` on every labelled question in ``path``."""
    items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    correct = handed = 0
    by_locale: dict[str, list[int]] = {}
    misses = []
    for item in items:
        reply = decide(str(item["q"]), item["locale"], item["model"], profiles)
        got = reply.article if reply.outcome == "answered" else "handoff"
        ok = got == item["expect"]
        correct += ok
        handed += reply.outcome == "handed_off"
        tally = by_locale.setdefault(item["locale"], [0, 0])
        tally[0] += ok
        tally[1] += 1
        if not ok:
            misses.append(f"[{item['locale']}] {item['q']} -> {got} (expected {item['expect']})")
    return Evaluation(
        len(items), correct, handed, {k: (v[0], v[1]) for k, v in by_locale.items()}, misses
    )
