"""Settings sections of api/ (see :mod:`core.settings`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from pydantic import Field, SecretStr

from core.settings import Section
from tickets.settings import Sections as TicketSections
from tickets.settings import TicketsConfig

# Secrets that were ever published (the old development default, compose samples): never
# accepted in production. Outside it, `kizuki run`/`api` replace any unset secret with a
# random one kept in <data_dir>/secret_key (kizuki.keys).
KNOWN_SECRETS = frozenset(
    {"kizuki-dev-secret-change-me", "change-me", "changeme", "secret", "test-secret-key-0123456789"}
)
MIN_SECRET_LENGTH = 32


def random_secret() -> SecretStr:
    """A fresh random signing secret (256 bits)."""
    return SecretStr(secrets.token_urlsafe(32))


def check_secret(secret: str) -> None:
    """Raise ValueError for a published or short secret (used in production)."""
    if secret in KNOWN_SECRETS:
        raise ValueError(
            "KIZUKI_API__SECRET_KEY is a published example secret: set a random one, or "
            "leave it unset to use <data_dir>/secret_key"
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"KIZUKI_API__SECRET_KEY has {len(secret)} characters, fewer than "
            f"{MIN_SECRET_LENGTH}: "
            "set a random one (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


class ApiSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    secret_key: SecretStr = Field(
        default_factory=random_secret,
        description="Signs session cookies and feedback links. Unset: `kizuki run`/`api` "
        "create a random one in <data_dir>/secret_key (mode 0600) and keep using it.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies whose "
        "X-Forwarded-For is believed; empty: the peer address is the client.",
    )
    login_threads: int = Field(
        default=2, ge=1, le=64, description="Password checks running at once; more wait."
    )
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
