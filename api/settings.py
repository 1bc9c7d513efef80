"""Settings sections of api/ (see :mod:`core.settings`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import Field, SecretStr

from core.settings import Section
from tickets.settings import Sections as TicketSections
from tickets.settings import TicketsConfig

DEV_SECRET = "kizuki-dev-secret-change-me"


class ApiSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    admin_api_key: SecretStr | None = Field(
        default=None, description="Bootstrap admin key; created hashed at start-up if set."
    )
    stale_after_s: float = Field(
        default=3600.0, gt=0, description="A device silent this long shows as 'silent'."
    )


class Sections(TicketSections, Protocol):
    """The application's root settings, as far as the API reads them."""

    @property
    def api(self) -> ApiSettings: ...


@dataclass(frozen=True, slots=True)
class AppConfig:
    """What the web app reads: its own section and tickets' (feedback links, case rules)."""

    api: ApiSettings
    tickets: TicketsConfig

    @property
    def production(self) -> bool:
        return self.tickets.production

    @classmethod
    def of(cls, root: Sections) -> AppConfig:
        return cls(root.api, TicketsConfig.of(root))
