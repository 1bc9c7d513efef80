"""Case database schema (SQLAlchemy 2, typed declarative).

Every timestamp is a timezone-aware UTC ``datetime`` (``UtcDateTime`` stores naive UTC on
SQLite and ``timestamptz`` on PostgreSQL, and always hands back aware UTC values).

One open case per (device, failure mode) is enforced by the partial unique index
``uq_cases_one_open`` (``WHERE status IN OPEN_STATUSES``); ``tickets.service`` inserts with
``ON CONFLICT DO NOTHING`` against it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

OPEN_WHERE = "status IN ('open', 'acknowledged', 'in_progress')"  # the partial index predicate
NotificationKind = Literal["detected", "all_clear", "update"]
NotificationStatus = Literal["pending", "sending", "sent", "failed", "skipped"]
Role = Literal["viewer", "agent", "admin"]
REVIEW_STATES: tuple[str, ...] = ("customer_disagrees",)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    quiet_start_hour: Mapped[int | None] = mapped_column(Integer, default=None)
    quiet_end_hour: Mapped[int | None] = mapped_column(Integer, default=None)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    tier: Mapped[str] = mapped_column(String(16), default="standard")  # standard | premium
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contacts: Mapped[list[ContactPoint]] = relationship(
        back_populates="customer", order_by="ContactPoint.preference", cascade="all, delete-orphan"
    )
    devices: Mapped[list[Device]] = relationship(back_populates="customer")


class ContactPoint(Base):
    """One way to reach a customer; ``preference`` 0 is tried first."""

    __tablename__ = "contact_points"
    __table_args__ = (UniqueConstraint("customer_id", "preference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)  # Apprise URL ("log://" for the demo log channel)
    preference: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    customer: Mapped[Customer] = relationship(back_populates="contacts")


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    product_line: Mapped[str] = mapped_column(String(64), default="")
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="devices")
    maintenance: Mapped[list[MaintenanceWindow]] = relationship(
        back_populates="device", cascade="all, delete-orphan"
    )


class MaintenanceWindow(Base):
    """While ``starts_at <= t < ends_at`` anomalies open no case (``suppress``) or a quiet one."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    mode: Mapped[str] = mapped_column(String(16), default="suppress")  # suppress | quiet
    reason: Mapped[str] = mapped_column(Text, default="")

    device: Mapped[Device] = relationship(back_populates="maintenance")


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200), unique=True)
    product_lines: Mapped[list[str]] = mapped_column(default=list)
    skills: Mapped[list[str]] = mapped_column(default=list)  # failure-mode skills
    languages: Mapped[list[str]] = mapped_column(default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    tier: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # 1 first line
    teams: Mapped[list[str]] = mapped_column(default=list, server_default="[]")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index(
            "uq_cases_one_open",
            "device_id",
            "failure_mode",
            unique=True,
            sqlite_where=text(OPEN_WHERE),
            postgresql_where=text(OPEN_WHERE),
        ),
        Index("ix_cases_status_opened", "status", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    product_line: Mapped[str] = mapped_column(String(64), default="")
    failure_mode: Mapped[str] = mapped_column(String(64))
    kb_article: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    severity: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)  # 1 (most urgent) .. 4
    quiet: Mapped[bool] = mapped_column(Boolean, default=False)  # opened in maintenance
    sla_due_at: Mapped[datetime]
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    routing_reason: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(String(300))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    telemetry: Mapped[dict[str, Any]] = mapped_column(default=dict)
    anomaly_count: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime]  # when the degradation began (detector's estimate)
    last_anomaly_at: Mapped[datetime]
    healthy_since: Mapped[datetime | None] = mapped_column(default=None)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_code: Mapped[str | None] = mapped_column(String(32), default=None)
    resolution_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    review_state: Mapped[str | None] = mapped_column(String(32), default=None)  # see REVIEW_STATES
    external_ref: Mapped[str] = mapped_column(String(120), default="")  # e.g. a Zendesk id

    device: Mapped[Device] = relationship()
    customer: Mapped[Customer | None] = relationship()
    assignee: Mapped[Agent | None] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan"
    )
    notifications: Mapped[list[Notification]] = relationship(
        back_populates="case", order_by="Notification.id"
    )
    messages: Mapped[list[Message]] = relationship(
        back_populates="case", order_by="Message.id", cascade="all, delete-orphan"
    )


class CaseEvent(Base):
    """One line of a case's timeline: who did what, when."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    case: Mapped[Case] = relationship(back_populates="events")


class Notification(Base):
    """Transactional outbox row: written with the case change, sent by the dispatcher."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16), default="")
    contact_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_points.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(300))
    short_body: Mapped[str] = mapped_column(Text)
    long_body: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    feedback_token: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

    case: Mapped[Case] = relationship(back_populates="notifications")
    customer: Mapped[Customer] = relationship()
    contact_point: Mapped[ContactPoint | None] = relationship()
    attempts_log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="notification", order_by="DeliveryAttempt.id"
    )


class AgentNotice(Base):
    """Outbox row for a person on the service team (``tickets.agent_notices``): written
    with the case change that concerns them (an escalation, a re-route), sent to the
    agent's e-mail by the dispatcher's pass."""

    __tablename__ = "agent_notices"
    __table_args__ = (Index("ix_agent_notices_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # escalated | rerouted_away | rerouted_to
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

    agent: Mapped[Agent] = relationship()
    case: Mapped[Case] = relationship()


class Message(Base):
    """One turn of a case's conversation with its customer, on any channel.

    ``direction`` is "out" (agent or self-service answer, sent through the outbox as a
    ``message`` notification) or "in" (a customer's reply by e-mail, SMS, chat or LINE)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    direction: Mapped[str] = mapped_column(String(4))  # in | out
    channel: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(200))  # user:<name> | bot | customer:<id>
    body: Mapped[str] = mapped_column(Text)
    sender: Mapped[str] = mapped_column(String(320), default="")  # address it came from
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), default=None
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="messages")
    notification: Mapped[Notification | None] = relationship()


class WebhookCursor(Base):
    """How far the outbound webhooks have got, per subscriber URL (``tickets.webhooks``)."""

    __tablename__ = "webhook_cursors"

    url: Mapped[str] = mapped_column(String(500), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(16))
    contact_point_id: Mapped[int | None] = mapped_column(Integer, default=None)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str] = mapped_column(Text, default="")
    recoverable: Mapped[bool] = mapped_column(Boolean, default=False)

    notification: Mapped[Notification] = relationship(back_populates="attempts_log")


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), unique=True
    )  # one vote per notification; voting again replaces it
    vote: Mapped[str] = mapped_column(String(8))  # up | down
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    first_at: Mapped[datetime | None] = mapped_column(default=None)  # opens the change window


class DetectorLabel(Base):
    """A labelled example for the detectors: an agent's "false alarm" resolution or an
    admin's label (never a customer's vote). ``undo`` holds the detector state from before
    the label was learnt, so withdrawing it (``withdrawn_at``) can restore that state."""

    __tablename__ = "detector_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(64))
    failure_mode: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(32))  # false_positive | true_positive
    source: Mapped[str] = mapped_column(String(32))  # agent | admin (customer_feedback: old rows)
    started_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undo: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # detector rows before
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    restored_at: Mapped[datetime | None] = mapped_column(default=None)  # undo applied


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # in every session cookie; bumping it (log-out, new password) ends them all at once
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    agent: Mapped[Agent | None] = relationship()


class LoginFailure(Base):
    """Log-in attempts per throttle key (account or client), shared by every API process
    on the case DB (``api.throttle``)."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)  # attempts not followed by a success
    first_at: Mapped[float] = mapped_column(Float)
    last_at: Mapped[float] = mapped_column(Float)
    next_at: Mapped[float] = mapped_column(Float)  # no attempt before (epoch seconds)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
