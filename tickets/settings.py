"""Settings sections of tickets/ (see :mod:`core.settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, SecretStr, field_validator

from core.settings import Section


class CaseSettings(Section):
    db_url: str | None = Field(default=None, description="Default: sqlite:///<data_dir>/cases.db")
    auto_resolve_after_s: float = 6 * 3600.0
    default_sla_hours: dict[str, float] = {"critical": 4, "high": 24, "medium": 72, "low": 168}
    reroute_every_s: float = Field(
        default=60.0, ge=0, description="How often unassigned cases are offered to agents again."
    )


class NotifySettings(Section):
    mode: Literal["log", "apprise"] = Field(
        default="log",
        description="'log' writes notifications to the log and outbox_dir (demo); "
        "'apprise' delivers them to each contact point's URL.",
    )
    outbox_dir: Path | None = Field(default=None, description="Default: <data_dir>/outbox")
    max_attempts: int = Field(
        default=5, ge=1, description="Tries per contact point before the next one takes over."
    )
    backoff_s: float = Field(default=2.0, gt=0, description="First retry wait; doubles after.")
    max_backoff_s: float = Field(default=3600.0, gt=0, description="Cap of the retry wait.")
    give_up_after_s: float = Field(
        default=48 * 3600.0,
        gt=0,
        description="Retry budget from the first attempt, going round the contact points "
        "again and again; after it the notification is marked failed.",
    )
    poll_interval_s: float = 0.5
    public_base_url: str = "http://127.0.0.1:8000"
    allow_log_in_production: bool = Field(
        default=False,
        description="Let environment=production run with mode='log' (nothing is delivered).",
    )

    def refuse_in_production(self) -> None:
        """Raise ValueError if production would write notices to files, not deliver them."""
        if self.mode == "log" and not self.allow_log_in_production:
            raise ValueError(
                "notify.mode is 'log' in production, so customers would get nothing: set "
                "KIZUKI_NOTIFY__MODE=apprise (or KIZUKI_NOTIFY__ALLOW_LOG_IN_PRODUCTION=true "
                "to keep writing notices to files)"
            )


class InboundSettings(Section):
    """Customers' replies: an SMTP endpoint for e-mail, signed webhooks for chat/SMS/LINE."""

    smtp_host: str = Field(default="127.0.0.1", description="Where the SMTP endpoint listens.")
    smtp_port: int = Field(
        default=0, ge=0, le=65535, description="SMTP endpoint port; 0 runs no endpoint."
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        description="HMAC-SHA256 key of inbound webhooks; empty refuses every webhook.",
    )
    max_bytes: int = Field(
        default=64 * 1024, ge=1024, le=10 * 1024 * 1024, description="Largest accepted message."
    )
    max_skew_s: float = Field(
        default=300.0, gt=0, description="How old a webhook's signed timestamp may be."
    )
    self_service: bool = Field(
        default=True, description="Answer customers from the knowledge base before a person."
    )


class WebhookTarget(Section):
    """A subscriber of the outbound case webhooks (``tickets.webhooks``)."""

    url: str = Field(description="Where to POST each event (http or https).")
    secret: SecretStr = Field(description="HMAC-SHA256 key the subscriber verifies with.")
    events: list[str] = Field(
        default_factory=list,
        description="Types to send (case.opened, case.updated, case.resolved, message.in, "
        "message.out); empty: all.",
    )
    max_attempts: int = Field(default=8, ge=1, description="Tries per event before skipping.")
    backoff_s: float = Field(default=2.0, gt=0, description="First retry wait; doubles.")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("a webhook URL starts with http:// or https://")
        return url


class IntegrationSettings(Section):
    """Where case events go: ``KIZUKI_INTEGRATIONS__WEBHOOKS='[{"url": ..., "secret": ...}]'``."""

    webhooks: list[WebhookTarget] = Field(default_factory=list)


class Sections(Protocol):
    """The application's root settings, as far as tickets reads them."""

    @property
    def cases(self) -> CaseSettings: ...
    @property
    def notify(self) -> NotifySettings: ...
    @property
    def inbound(self) -> InboundSettings: ...
    @property
    def integrations(self) -> IntegrationSettings: ...
    @property
    def feedback_secret(self) -> SecretStr: ...
    @property
    def outbox_dir(self) -> Path: ...
    @property
    def production(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TicketsConfig:
    """What tickets reads: its sections, the key that signs feedback links, where the
    log channel writes, and whether this is production (no silent 'log' delivery)."""

    cases: CaseSettings
    notify: NotifySettings
    secret_key: SecretStr
    outbox_dir: Path
    production: bool = False
    inbound: InboundSettings = field(default_factory=InboundSettings)
    integrations: IntegrationSettings = field(default_factory=IntegrationSettings)

    @classmethod
    def of(cls, root: Sections) -> TicketsConfig:
        return cls(
            root.cases,
            root.notify,
            root.feedback_secret,
            root.outbox_dir,
            root.production,
            root.inbound,
            root.integrations,
        )
