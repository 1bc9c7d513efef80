"""Customers, contact points, devices and agents: import a fleet manifest, seed agents.

Manifest format (docs/architecture.md)::

    {"customers": [{"id": "c-0001", "name": "...", "locale": "ja", "timezone": "Asia/Tokyo",
                    "quiet_hours": [22, 7], "opted_out": false, "tier": "standard",
                    "contacts": [{"channel": "email", "url": "mailto://..."}, ...]}],
     "devices":   [{"id": "ac-00001", "model": "aircon-x1", "customer_id": "c-0001"}],
     "agents":    [{"name": "Yui Tanaka", "email": "yui@example.com", "skills": [...],
                    "languages": ["ja", "en"], "product_lines": [...], "tier": 2,
                    "capacity": 6, "teams": ["tokyo"]}]}

``contacts`` are in preference order. Importing again updates rows in place (idempotent).

Errors::

    RegistryError
     +-- ManifestError     a manifest entry missing a field or naming an unknown customer
     +-- MaintenanceError  a maintenance window on an unknown device, or a bad one
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.profiles import DeviceProfile, load_profiles
from tickets.channels.guard import TargetPolicy, UnsafeTarget
from tickets.channels.schemes import SCHEMES, channel_of, scheme_name, scheme_of
from tickets.language import language_of
from tickets.models import Agent, ContactPoint, Customer, Device, MaintenanceWindow
from tickets.team import AgentError, AgentSpec, upsert_agent


class RegistryError(ValueError):
    """Registry data that cannot be stored."""


class ManifestError(RegistryError):
    """A manifest that cannot be imported."""


class MaintenanceError(RegistryError):
    """A maintenance window that cannot be scheduled."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    customers: int
    contacts: int
    devices: int
    agents: int = 0


def check_contact_url(url: str, policy: TargetPolicy | None = None) -> str:
    """``url`` if its scheme is one we deliver to (:mod:`tickets.channels.schemes`) and,
    for a URL whose host we connect to (webhooks, SMTP), ``policy`` (used without DNS:
    :meth:`TargetPolicy.offline`) admits that host. Names are checked again at send."""
    scheme = scheme_of(url)
    if scheme is None:
        allowed = ", ".join(sorted(SCHEMES))
        raise ManifestError(f"contact URL scheme {scheme_name(url)!r} is not one of: {allowed}")
    if policy is not None and scheme.host_is_target:
        try:
            policy.offline().check_host(urlsplit(url).hostname or "")
        except (UnsafeTarget, ValueError) as exc:
            raise ManifestError(f"contact URL {private_host(url)}: {exc}") from None
    return url


def private_host(url: str) -> str:
    """``url`` cut to its scheme and host, for error messages (no user, token or path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


def import_manifest(
    session_factory: sessionmaker[Session],
    manifest: Mapping[str, Any],
    profiles: Mapping[str, DeviceProfile] | None = None,
    policy: TargetPolicy | None = None,
) -> ImportResult:
    """Upsert the manifest's customers (with contacts) and devices in one transaction.
    With ``policy`` (the CLI and ``kizuki run`` pass ``notify.allow_targets``), a contact
    whose host is a private or loopback address is refused here already."""
    profiles = profiles if profiles is not None else load_profiles()
    customers = list(manifest.get("customers") or [])
    devices = list(manifest.get("devices") or [])
    agents = list(manifest.get("agents") or [])
    contacts = 0
    with session_factory.begin() as session:
        for entry in customers:
            contacts += _upsert_customer(session, entry, policy)
        session.flush()
        for entry in devices:
            _upsert_device(session, entry, profiles)
        for entry in agents:
            try:
                upsert_agent(session, AgentSpec.from_mapping(entry))
            except AgentError as exc:
                raise ManifestError(str(exc)) from None
    return ImportResult(len(customers), contacts, len(devices), len(agents))


def _field(entry: Mapping[str, Any], name: str, what: str) -> Any:
    if name not in entry or entry[name] in (None, ""):
        raise ManifestError(f"{what} entry {dict(entry)!r} lacks {name!r}")
    return entry[name]


def _upsert_customer(
    session: Session, entry: Mapping[str, Any], policy: TargetPolicy | None
) -> int:
    customer_id = str(_field(entry, "id", "customer"))
    customer = session.get(Customer, customer_id) or Customer(id=customer_id)
    customer.name = str(entry.get("name") or customer_id)
    customer.locale = language_of(entry.get("locale"))
    customer.timezone = str(entry.get("timezone") or "UTC")
    quiet = entry.get("quiet_hours")
    customer.quiet_start_hour, customer.quiet_end_hour = (
        (int(quiet[0]), int(quiet[1])) if quiet else (None, None)
    )
    customer.opted_out = bool(entry.get("opted_out", False))
    customer.tier = str(entry.get("tier") or "standard")
    session.add(customer)
    customer.contacts.clear()
    session.flush()  # delete the old contact rows before re-adding preference 0..n
    for preference, contact in enumerate(entry.get("contacts") or []):
        url = check_contact_url(str(_field(contact, "url", "contact")), policy)
        customer.contacts.append(
            ContactPoint(
                channel=str(contact.get("channel") or channel_of(url)),
                url=url,
                preference=preference,
                enabled=bool(contact.get("enabled", True)),
            )
        )
    return len(customer.contacts)


def _upsert_device(
    session: Session, entry: Mapping[str, Any], profiles: Mapping[str, DeviceProfile]
) -> None:
    device_id = str(_field(entry, "id", "device"))
    model = str(_field(entry, "model", "device"))
    customer_id = entry.get("customer_id")
    if customer_id is not None and session.get(Customer, str(customer_id)) is None:
        raise ManifestError(f"device {device_id!r} names unknown customer {customer_id!r}")
    device = session.get(Device, device_id) or Device(id=device_id)
    device.model = model
    profile = profiles.get(model)
    device.product_line = str(
        entry.get("product_line") or (profile.product_line if profile else "")
    )
    device.customer_id = str(customer_id) if customer_id is not None else None
    session.add(device)


DEMO_AGENTS: tuple[dict[str, Any], ...] = (
    {
        "name": "Haruto Sato",
        "email": "haruto.sato@example.com",
        "product_lines": ["air-conditioning"],
        "skills": ["aircon-maintenance", "aircon-repair", "refrigerant-certified"],
        "languages": ["ja"],
        "capacity": 8,
    },
    {
        "name": "Yui Tanaka",
        "email": "yui.tanaka@example.com",
        "product_lines": ["air-conditioning", "water-heating"],
        "skills": [
            "aircon-maintenance",
            "aircon-repair",
            "refrigerant-certified",
            "plumbing",
            "electrical",
        ],
        "languages": ["ja", "en"],
        "capacity": 6,
        "tier": 2,
    },
    {
        "name": "Emma Wilson",
        "email": "emma.wilson@example.com",
        "product_lines": ["air-conditioning", "water-heating"],
        "skills": ["aircon-maintenance", "aircon-repair", "refrigerant-certified", "plumbing"],
        "languages": ["en"],
        "capacity": 6,
    },
    {
        "name": "Kenji Yamamoto",
        "email": "kenji.yamamoto@example.com",
        "product_lines": ["pumps", "water-heating"],
        "skills": ["pump-mechanical", "electrical", "plumbing"],
        "languages": ["ja", "en"],
        "capacity": 6,
        "tier": 2,
    },
    {
        "name": "Liam Carter",
        "email": "liam.carter@example.com",
        "product_lines": ["pumps"],
        "skills": ["pump-mechanical", "electrical"],
        "languages": ["en"],
        "capacity": 4,
    },
)


def seed_demo_agents(session_factory: sessionmaker[Session]) -> int:
    """Add the demo service team (idempotent by e-mail); returns how many were added."""
    added = 0
    with session_factory.begin() as session:
        known = set(session.scalars(select(Agent.email)))
        for spec in DEMO_AGENTS:
            if spec["email"] not in known:
                session.add(Agent(active=True, **spec))
                added += 1
    return added


def schedule_maintenance(
    session_factory: sessionmaker[Session],
    device_id: str,
    starts_at: datetime,
    ends_at: datetime,
    mode: str = "suppress",
    reason: str = "",
) -> int:
    """Add a maintenance window: ``suppress`` opens no case, ``quiet`` opens one without
    telling the customer. Returns the window id."""
    if mode not in ("suppress", "quiet"):
        raise MaintenanceError(f"mode must be 'suppress' or 'quiet', not {mode!r}")
    if starts_at.tzinfo is None or ends_at.tzinfo is None or ends_at <= starts_at:
        raise MaintenanceError("a maintenance window needs aware datetimes with end > start")
    with session_factory.begin() as session:
        if session.get(Device, device_id) is None:
            raise MaintenanceError(f"unknown device {device_id!r}")
        window = MaintenanceWindow(
            device_id=device_id, starts_at=starts_at, ends_at=ends_at, mode=mode, reason=reason
        )
        session.add(window)
        session.flush()
        return window.id
