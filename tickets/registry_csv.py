"""Customers, contacts and devices from CSV files (as a spreadsheet or CRM exports them),
turned into the fleet manifest that ``tickets.registry.import_manifest`` imports.

``customers.csv`` columns: ``id, name, locale, timezone, tier, quiet_hours, contacts``
(``quiet_hours`` like ``22-7``; ``contacts`` are contact URLs in order of preference,
separated by ``;`` or ``|``, each optionally prefixed ``channel=``: ``sms=log://sms/+81...``).
``devices.csv`` columns: ``id, model, customer_id``. Only ``id`` (and ``model`` for
devices) is required; a UTF-8 byte-order mark is accepted.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from tickets.registry import ManifestError

CHANNEL_PREFIX = re.compile(r"^(?P<channel>[a-z]+)=(?P<url>.+)$")


def _rows(text: str, what: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [name for name in required if name not in (reader.fieldnames or [])]
    if missing:
        raise ManifestError(f"{what}: the header lacks {', '.join(missing)}")
    rows = []
    for number, row in enumerate(reader, start=2):
        clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not any(clean.values()):
            continue
        for name in required:
            if not clean.get(name):
                raise ManifestError(f"{what} line {number}: {name} is empty")
        rows.append(clean)
    return rows


def _contacts(cell: str) -> list[dict[str, str]]:
    found = []
    for part in re.split(r"[;|]", cell):
        part = part.strip()
        if not part:
            continue
        match = CHANNEL_PREFIX.match(part)
        found.append({"channel": match["channel"], "url": match["url"]} if match else {"url": part})
    return found


def _quiet(cell: str, where: str) -> list[int] | None:
    if not cell:
        return None
    match = re.fullmatch(r"(\d{1,2})\s*-\s*(\d{1,2})", cell)
    if not match or not all(0 <= int(h) <= 23 for h in match.groups()):
        raise ManifestError(f"{where}: quiet_hours {cell!r} is not like 22-7")
    return [int(match[1]), int(match[2])]


def manifest_from_csv(customers: str = "", devices: str = "") -> dict[str, Any]:
    """The manifest in two CSV texts (either may be empty)."""
    people = []
    for row in _rows(customers, "customers.csv", ("id",)) if customers else []:
        entry: dict[str, Any] = {"id": row["id"], "contacts": _contacts(row.get("contacts", ""))}
        for key in ("name", "locale", "timezone", "tier"):
            if row.get(key):
                entry[key] = row[key]
        if (quiet := _quiet(row.get("quiet_hours", ""), f"customer {row['id']}")) is not None:
            entry["quiet_hours"] = quiet
        people.append(entry)
    things = [
        {"id": row["id"], "model": row["model"], "customer_id": row.get("customer_id") or None}
        for row in (_rows(devices, "devices.csv", ("id", "model")) if devices else [])
    ]
    return {"customers": people, "devices": things}
