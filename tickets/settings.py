"""Settings sections of tickets/ (see :mod:`core.settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.events import SEVERITY_RANK
from core.settings import Section
from tickets.mailbox import Mailbox

if TYPE_CHECKING:
    from tickets.channels.guard import TargetPolicy

DB_BACKENDS = ("sqlite", "postgresql")
MAX_TIER = 3  # agent tiers: 1 first line, 2 specialist, 3 expert


class CaseSettings(Section):
    db_url: str | None = Field(
        default=None,
        description="sqlite:///path or postgresql://user:pass@host/db; "
        "default sqlite:///<data_dir>/cases.db",
    )
    auto_resolve_after_s: float = Field(default=6 * 3600.0, gt=0)
    default_sla_hours: dict[str, float] = {"critical": 4, "high": 24, "medium": 72, "low": 168}
    reroute_every_s: float = Field(
        default=60.0, ge=0, description="How often unassigned cases are offered to agents again."
    )
    reopen_within_s: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="A recurrence within this much telemetry time of a resolved case's last "
        "anomaly reopens that case instead of opening a new one.",
    )
    update_customer_on: list[str] = Field(
        default=["high", "critical"],
        description="Severities whose escalation sends the customer an update "
        "(other escalations are for the agent only).",
    )
    update_min_interval_s: float = Field(
        default=6 * 3600.0,
        ge=0,
        description="At most one customer update per case in this many seconds (server clock).",
    )

    min_tier: dict[str, int] = Field(
        default={"low": 1, "medium": 1, "high": 1, "critical": 2},
        description="Lowest agent tier (1 first line .. 3 expert) that routing gives a case "
        "of each severity, when it opens and when it escalates; an escalated case whose "
        "assignee is below it goes to a fitting agent who is not.",
    )

    @field_validator("min_tier")
    @classmethod
    def _tiers(cls, value: dict[str, int]) -> dict[str, int]:
        for severity, tier in value.items():
            if severity not in SEVERITY_RANK:
                raise ValueError(f"cases.min_tier: {severity!r} is not a severity")
            if not 1 <= tier <= MAX_TIER:
                raise ValueError(f"cases.min_tier.{severity} must be 1..{MAX_TIER}, not {tier}")
        return value

    @field_validator("db_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            backend = ""
        if backend not in DB_BACKENDS:
            raise ValueError(
                f"{value!r} is not a case database URL: use sqlite:///path/cases.db or "
                "postgresql://user:password@host/database"
            )
        return value


class SmtpSettings(Section):
    """The mail relay every ``mailto:`` contact is delivered through (``notify.smtp``)."""

    host: str | None = Field(
        default=None, description="Relay host name; unset = Apprise's own mailto handling."
    )
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (port 587), tls (implicit TLS, port 465) or none (port 25, "
        "a relay on a trusted network only).",
    )
    username: str | None = Field(default=None, description="Login, if the relay wants one.")
    password: SecretStr | None = None
    from_addr: str = Field(default="kizuki@localhost", description="Sender address.")
    from_name: str = Field(default="Kizuki", description="Sender display name.")
    verify_certificate: bool = Field(
        default=True, description="Check the relay's TLS certificate against the system CAs."
    )
    timeout_s: float = Field(default=15.0, gt=0, le=300)


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
    poll_interval_s: float = Field(default=0.5, gt=0, le=60)
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where customers reach the API (feedback links); required in production.",
    )
    smtp: SmtpSettings = Field(
        default_factory=SmtpSettings,
        description="Mail relay for every mailto: contact (KIZUKI_NOTIFY__SMTP__HOST, ...).",
    )
    providers: dict[str, str] = Field(
        default_factory=dict,
        description="Provider settings kept out of contact URLs: contact scheme -> Apprise "
        "URL template with {target}, e.g. sms = 'twilio://SID:TOKEN@+15550001111/{target}' "
        "makes the contact sms://+819012345678 go out through that Twilio account.",
    )
    allow_log_in_production: bool = Field(
        default=False,
        description="Let environment=production run with mode='log' (nothing is delivered).",
    )
    allow_targets: list[str] = Field(
        default_factory=list,
        description="Host names or networks (CIDR) that contact points may reach although "
        "they are private, loopback or link-local (e.g. an in-house SMTP relay). Empty: "
        "only public addresses.",
    )
    timeout_s: float = Field(
        default=3.0, gt=0, le=60, description="Connect and read timeout of one delivery."
    )
    breaker_failures: int = Field(
        default=3, ge=1, description="Failures in a row that pause a target (circuit breaker)."
    )
    breaker_cooldown_s: float = Field(
        default=300.0, gt=0, description="How long a failing target is paused."
    )

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"{value!r} is not an http(s):// URL")
        return value

    @field_validator("providers")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for scheme, template in value.items():
            if "{target}" not in template or "://" not in template:
                raise ValueError(
                    f"notify.providers.{scheme} must be an Apprise URL with {{target}}"
                )
        return {scheme.lower(): template for scheme, template in value.items()}

    def policy(self) -> TargetPolicy:
        """The SSRF guard of contact points (at import without DNS, at every send)."""
        from tickets.channels.guard import TargetPolicy  # channels import these settings

        return TargetPolicy(tuple(self.allow_targets))

    def refuse_loopback_links(self) -> None:
        """Raise ValueError if feedback links would point at this machine's loopback."""
        host = urlsplit(self.public_base_url).hostname or ""
        if host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") or host.startswith("127."):
            raise ValueError(
                f"notify.public_base_url is {self.public_base_url!r}: customers' feedback "
                "links would point at their own machine; set KIZUKI_NOTIFY__PUBLIC_BASE_URL "
                "to the address customers reach the API at"
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
    imap_url: str = Field(
        default="",
        description="Poll this mailbox for e-mail replies: imaps://user@host[:993][/folder] "
        "or imap://user@host[:143][/folder] (STARTTLS if offered); empty: no polling.",
    )
    imap_password: SecretStr = Field(default=SecretStr(""), description="The mailbox password.")
    imap_every_s: float = Field(default=60.0, gt=0, le=3600, description="Poll interval.")

    @field_validator("imap_url")
    @classmethod
    def _imap(cls, url: str) -> str:
        if url:
            Mailbox.parse(url)
        return url


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
    allow_targets: list[str] = Field(
        default_factory=list,
        description="Host names or networks (CIDR) webhook URLs may reach although they are "
        "private, loopback or link-local (e.g. an in-house adapter). Empty: only public "
        "addresses.",
    )

    @model_validator(mode="after")
    def _reachable(self) -> IntegrationSettings:
        from tickets.channels.guard import UnsafeTarget  # channels import these settings

        policy = self.policy().offline()
        for target in self.webhooks:
            try:
                policy.check_url(target.url)
            except UnsafeTarget as exc:
                raise ValueError(f"integrations.webhooks: {target.url}: {exc}") from None
        return self

    def policy(self) -> TargetPolicy:
        """The SSRF guard of the webhook URLs (checked again at every send)."""
        from tickets.channels.guard import TargetPolicy

        return TargetPolicy(tuple(self.allow_targets), setting="integrations.allow_targets")


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
