"""A case's conversation with its customer, on whatever channel each turn used.

* ``post``: an agent (or the self-service answerer) writes to the customer. The text is
  stored as a ``Message`` and queued in the outbox as a ``message`` notification, so the
  dispatcher delivers it on the customer's preferred channel with retries and fallback.
  E-mail gets the long form (greeting, text, signature), SMS/chat/LINE the short one;
  both carry the same text. On SMS the short form must fit ``sms.MAX_SEGMENTS``.
* ``receive``: a customer's reply (e-mail, SMS, chat, LINE) lands in the case it answers.
  The sender must be one of a customer's contact points; the case is the one named in
  the subject or text (``#12``) if it is theirs, else their latest open case, else their
  latest case. A reply on another channel thus joins the same thread.

Every turn is also a timeline entry (``message_out`` / ``message_in``).

Errors::

    ConversationError        the message cannot be sent or stored
     +-- NoMatchingCase      no customer has that sender address, or they have no case
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.cases import OPEN_STATUSES
from tickets import lifecycle, sms
from tickets.models import Case, ContactPoint, Customer, Message, Notification
from tickets.outbox import first_contact

MAX_BODY = 4000
CASE_REF = re.compile(r"#\s?(\d{1,9})\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
LONG = {
    "en": "Hello {name},\n\n{body}\n\n{signature}\nCase #{case_id} - reply to this message to "
    "answer us.\n",
    "ja": "{name} 様\n\n{body}\n\n{signature}\n案件 #{case_id} - このメッセージに返信して"
    "いただければ担当者に届きます。\n",
}
SUBJECT = {"en": "[Case #{case_id}] {title}", "ja": "[案件 #{case_id}] {title}"}
SHORT_TAIL = {"en": " (Case #{case_id})", "ja": "（案件 #{case_id}）"}


class ConversationError(ValueError):
    """A message that cannot be sent or stored."""


class NoMatchingCase(ConversationError, LookupError):
    """The sender is no customer's contact point, or that customer has no case."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One customer message as a channel delivered it."""

    channel: str  # email | sms | chat | line | ...
    sender: str  # e-mail address, phone number or chat user id
    text: str
    subject: str = ""
    case_id: int | None = None  # when the channel knows it (a thread id)


def short_form(body: str, case_id: int, locale: str) -> str:
    """The SMS/chat text: the body and the case number."""
    tail = SHORT_TAIL.get(locale, SHORT_TAIL["en"]).format(case_id=case_id)
    return " ".join(body.split()) + tail


def check_fits(channel: str, body: str, case_id: int, locale: str) -> None:
    """Refuse an SMS that would take more than ``sms.MAX_SEGMENTS`` segments."""
    if channel == "sms":
        n = sms.segments(short_form(body, case_id, locale))
        if n > sms.MAX_SEGMENTS:
            raise ConversationError(
                f"too long for SMS: {n} segments (at most {sms.MAX_SEGMENTS}); shorten the text"
            )


def post(
    session: Session, case: Case, author: str, body: str, now: datetime, signature: str = ""
) -> Message:
    """Write ``body`` to the case's customer (stored, timelined, queued for delivery)."""
    body = body.strip()
    if not body or len(body) > MAX_BODY:
        raise ConversationError(f"a message needs 1 to {MAX_BODY} characters")
    customer = case.customer
    if customer is None:
        raise ConversationError(f"case {case.id} has no customer to write to")
    contact = first_contact(customer)
    channel = contact.channel if contact else "log"
    locale = customer.locale if customer.locale in LONG else "en"
    check_fits(channel, body, case.id, locale)
    row = Notification(
        case_id=case.id,
        customer_id=customer.id,
        kind="message",
        locale=locale,
        channel=channel,
        contact_point_id=contact.id if contact else None,
        subject=SUBJECT[locale].format(case_id=case.id, title=case.title)[:300],
        short_body=short_form(body, case.id, locale),
        long_body=LONG[locale].format(
            name=customer.name, body=body, signature=signature or "Kizuki", case_id=case.id
        ),
        idempotency_key=f"kizuki-{case.id}-message-{uuid.uuid4().hex}",
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    message = Message(
        case_id=case.id,
        customer_id=customer.id,
        direction="out",
        channel=channel,
        author=author,
        body=body,
        notification_id=row.id,
        at=now,
    )
    session.add(message)
    case.updated_at = now
    session.flush()
    lifecycle.log(
        session,
        case,
        author,
        "message_out",
        now,
        message_id=message.id,
        channel=channel,
        text=body,
    )
    return message


def addresses(text: str) -> set[str]:
    """Identifiers in a contact URL or a sender: e-mail addresses (lower case), phone
    numbers (digits only) and the last path segment (a chat or LINE user id)."""
    found = {m.lower() for m in EMAIL.findall(text)}
    found |= {re.sub(r"\D", "", m) for m in PHONE.findall(text)}
    path = text.split("://", 1)[-1]  # a bare "log://" names nobody
    tail = path.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] if path.strip("/") else ""
    if tail and "@" not in tail:
        found.add(re.sub(r"\D", "", tail) if PHONE.fullmatch(tail) else tail.lower())
    return {a for a in found if len(a) >= 3}


def customer_of(session: Session, sender: str) -> Customer | None:
    """The customer one of whose contact points is ``sender``."""
    wanted = addresses(sender)
    if not wanted:
        return None
    for contact in session.scalars(select(ContactPoint).order_by(ContactPoint.id)):
        if addresses(contact.url) & wanted:
            return contact.customer
    return None


def case_for(session: Session, customer: Customer, hint: int | None) -> Case | None:
    """The case a customer's message belongs to (see the module docstring)."""
    if hint is not None:
        named = session.get(Case, hint)
        if named is not None and named.customer_id == customer.id:
            return named
    mine = select(Case).where(Case.customer_id == customer.id)
    open_case = session.scalar(
        mine.where(Case.status.in_(OPEN_STATUSES)).order_by(Case.updated_at.desc()).limit(1)
    )
    return open_case or session.scalar(mine.order_by(Case.updated_at.desc()).limit(1))


def case_hint(inbound: Inbound) -> int | None:
    """The case number the message names (subject first), if any."""
    if inbound.case_id is not None:
        return inbound.case_id
    for text in (inbound.subject, inbound.text):
        if match := CASE_REF.search(text):
            return int(match.group(1))
    return None


def receive(session: Session, inbound: Inbound, now: datetime) -> Message:
    """Store a customer's message in the case it answers; raises ``NoMatchingCase``."""
    text = inbound.text.strip()
    if not text:
        raise ConversationError("empty message")
    customer = customer_of(session, inbound.sender)
    if customer is None:
        raise NoMatchingCase(f"no customer has the contact {inbound.sender!r}")
    case = case_for(session, customer, case_hint(inbound))
    if case is None:
        raise NoMatchingCase(f"customer {customer.id} has no case to attach this message to")
    message = Message(
        case_id=case.id,
        customer_id=customer.id,
        direction="in",
        channel=inbound.channel,
        author=f"customer:{customer.id}",
        body=text[:MAX_BODY],
        sender=inbound.sender[:320],
        at=now,
    )
    session.add(message)
    case.updated_at = now
    session.flush()
    lifecycle.log(
        session,
        case,
        message.author,
        "message_in",
        now,
        message_id=message.id,
        channel=inbound.channel,
        text=message.body,
    )
    return message


def thread(session: Session, case_id: int) -> list[Message]:
    """The case's messages, oldest first, with their notifications (delivery state)."""
    return list(
        session.scalars(
            select(Message)
            .where(Message.case_id == case_id)
            .order_by(Message.at, Message.id)
            .options(selectinload(Message.notification))
        )
    )
