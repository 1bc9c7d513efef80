"""Customers of the simulated fleet: name, locale, time zone, quiet hours, contacts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypedDict

import numpy as np

JA_FAMILY = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤")
JA_GIVEN = ("陽子", "健", "美咲", "翔太", "直樹", "恵", "大輔", "さくら", "拓海", "由美")
EN_FAMILY = ("Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Clarke", "Walker")
EN_GIVEN = ("Alice", "Ben", "Chloe", "David", "Emma", "Frank", "Grace", "Henry", "Isla")
EN_ZONES = (("Europe/London", 0.0), ("America/New_York", -5.0), ("Australia/Sydney", 10.0))
JA_ZONE = ("Asia/Tokyo", 9.0)


class ContactEntry(TypedDict):
    channel: str
    url: str


class CustomerEntry(TypedDict):
    """A customer as the fleet manifest (JSON) carries it."""

    id: str
    name: str
    locale: str
    timezone: str
    quiet_hours: list[int]
    contacts: list[ContactEntry]


@dataclass(frozen=True, slots=True)
class Contact:
    """One way to reach a customer; ``url`` is an Apprise URL."""

    channel: str
    url: str


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer owning one or more devices; ``contacts`` in preference order."""

    id: str
    name: str
    locale: str
    timezone: str
    utc_offset_h: float
    quiet_hours: tuple[int, int]
    contacts: tuple[Contact, ...]

    def to_manifest(self) -> CustomerEntry:
        return {
            "id": self.id,
            "name": self.name,
            "locale": self.locale,
            "timezone": self.timezone,
            "quiet_hours": list(self.quiet_hours),
            "contacts": [{"channel": c.channel, "url": c.url} for c in self.contacts],
        }


ContactFactory = Callable[[Customer], Sequence[Contact]]


def default_contacts(customer: Customer) -> tuple[Contact, ...]:
    """A fake e-mail address per customer (example.com never delivers)."""
    return (Contact("email", f"mailto://{customer.id}@example.com"),)


def draw_customers(rng: np.random.Generator, n_devices: int) -> tuple[list[Customer], list[int]]:
    """Customers owning 1-3 devices each, and for each device the index of its owner."""
    customers: list[Customer] = []
    owners: list[int] = []
    while len(owners) < n_devices:
        owned = int(rng.choice((1, 1, 1, 2, 2, 3)))
        customers.append(_customer(rng, len(customers) + 1))
        owners.extend([len(customers) - 1] * owned)
    return customers, owners[:n_devices]


def _customer(rng: np.random.Generator, number: int) -> Customer:
    if rng.random() < 0.6:
        name = f"{_pick(rng, JA_FAMILY)} {_pick(rng, JA_GIVEN)}"
        locale, (zone, offset) = "ja", JA_ZONE
    else:
        name = f"{_pick(rng, EN_GIVEN)} {_pick(rng, EN_FAMILY)}"
        locale, (zone, offset) = "en", EN_ZONES[int(rng.integers(len(EN_ZONES)))]
    quiet = (22, 7) if rng.random() < 0.7 else (23, 8)
    customer = Customer(f"c-{number:04d}", name, locale, zone, offset, quiet, ())
    return with_contacts(customer, default_contacts)


def with_contacts(customer: Customer, factory: ContactFactory) -> Customer:
    """The same customer with the contacts ``factory`` gives it."""
    return replace(customer, contacts=tuple(factory(customer)))


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]
