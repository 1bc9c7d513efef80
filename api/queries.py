"""Read-side queries shared by the JSON API and the pages: filtered, keyset-paged cases.

Exceptions::

    BadCursor    a pagination cursor we did not make, or made for another sort order
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from api.schemas.common import MAX_ID
from core.cases import OPEN_STATUSES
from core.events import SEVERITIES as ALL_SEVERITIES
from tickets.models import Case, ContactPoint, Customer, Device, Message, UtcDateTime

SORTS: dict[str, InstrumentedAttribute[Any]] = {
    "sla_due_at": Case.sla_due_at,
    "opened_at": Case.opened_at,
    "updated_at": Case.updated_at,
    "priority": Case.priority,
    "score": Case.score,
}
SortName = Literal[
    "sla_due_at",
    "opened_at",
    "updated_at",
    "priority",
    "score",
    "-sla_due_at",
    "-opened_at",
    "-updated_at",
    "-priority",
    "-score",
]
SORT_CHOICES: tuple[str, ...] = get_args(SortName)
SEVERITIES: tuple[str, ...] = tuple(reversed(ALL_SEVERITIES))  # most severe first
MAX_CURSOR_NUMBER = 2**53  # priorities and scores are small; anything bigger is forged


class BadCursor(ValueError):
    """The cursor does not decode to a position in this sort order."""


@dataclass
class CaseFilter:
    """What the queue shows; empty lists mean 'any'."""

    status: list[str] = field(default_factory=list)
    severity: list[str] = field(default_factory=list)
    assignee: str | None = None  # an agent id, or "none" for unassigned
    model: str | None = None
    failure_mode: str | None = None
    device_id: str | None = None
    review: str | None = None  # a review state, e.g. "customer_disagrees"
    text: str | None = None  # search: see ``search_clause``

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.text and self.text.strip():
            clauses.append(search_clause(self.text))
        if self.status:
            clauses.append(Case.status.in_(self.status))
        if self.severity:
            clauses.append(Case.severity.in_(self.severity))
        if self.assignee == "none":
            clauses.append(Case.assignee_id.is_(None))
        elif (agent_id := parse_id(self.assignee)) is not None:
            clauses.append(Case.assignee_id == agent_id)
        for column, value in (
            (Case.review_state, self.review),
            (Case.model, self.model),
            (Case.failure_mode, self.failure_mode),
            (Case.device_id, self.device_id),
        ):
            if value:
                clauses.append(column == value)
        return clauses


MAX_TERMS = 8


def search_terms(text: str) -> list[str]:
    """The words of a search, lower-cased: split on spaces (an ideographic space too);
    "double quotes" keep a phrase together. At most ``MAX_TERMS``."""
    terms: list[str] = []
    for i, part in enumerate(text.replace("\u3000", " ").split('"')):
        if i % 2:  # inside quotes: one phrase
            terms.append(" ".join(part.split()))
        else:
            terms.extend(part.split())
    return [t.lower() for t in terms if t][:MAX_TERMS]


def _like(column: Any, term: str) -> ColumnElement[bool]:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def search_clause(text: str) -> ColumnElement[bool]:
    """Cases matching ``text``: "#12" is case 12; otherwise every word (or quoted phrase)
    must be found, each in any of: the case number, title, device, model, failure mode,
    external ticket id, resolution note, a message of its conversation, or the customer's
    id, name or contact points. Case-insensitive substrings (so Japanese needs no word
    splitting); LIKE wildcards typed by the user are searched for, not expanded. A scan,
    not an index: fine for a service desk's tens of thousands of cases."""
    needle = text.strip().lstrip("#")
    if text.strip().startswith("#") and (number := parse_id(needle)) is not None:
        return Case.id == number  # "#12" is case 12, not every title with a 12 in it
    return and_(*(_term_clause(term) for term in search_terms(text) or [""]))


def _term_clause(term: str) -> ColumnElement[bool]:
    people = select(Customer.id).where(
        or_(
            _like(Customer.id, term),
            _like(Customer.name, term),
            Customer.id.in_(select(ContactPoint.customer_id).where(_like(ContactPoint.url, term))),
        )
    )
    clauses = [
        _like(Case.title, term),
        _like(Case.device_id, term),
        _like(Case.failure_mode, term),
        _like(Case.model, term),
        _like(Case.external_ref, term),
        _like(Case.resolution_note, term),
        Case.customer_id.in_(people),
        Case.id.in_(select(Message.case_id).where(_like(Message.body, term))),
    ]
    if (number := parse_id(term.lstrip("#"))) is not None:
        clauses.append(Case.id == number)
    return or_(*clauses)


@dataclass
class Found:
    """Customers and devices a search names, whether or not they have a case."""

    customers: list[Customer]
    devices: list[Device]


def find_customers_and_devices(db: Session, text: str, limit: int = 10) -> Found:
    """Customers (by id, name or contact point) and devices (by id, model or product
    line) matching every word of ``text``, for the queue's "also found" lines."""
    terms = search_terms(text)
    if not terms or text.strip().startswith("#"):
        return Found([], [])
    customers = db.scalars(
        select(Customer)
        .where(
            *(
                or_(
                    _like(Customer.id, t),
                    _like(Customer.name, t),
                    Customer.id.in_(
                        select(ContactPoint.customer_id).where(_like(ContactPoint.url, t))
                    ),
                )
                for t in terms
            )
        )
        .order_by(Customer.name, Customer.id)
        .limit(limit)
    ).all()
    devices = db.scalars(
        select(Device)
        .where(
            *(
                or_(_like(Device.id, t), _like(Device.model, t), _like(Device.product_line, t))
                for t in terms
            )
        )
        .order_by(Device.id)
        .limit(limit)
    ).all()
    return Found(list(customers), list(devices))


@dataclass
class CasePage:
    cases: list[Case]
    total: int
    next_cursor: str | None


def parse_id(text: str | None) -> int | None:
    """A positive id from user text (a query or form field), or None when it is not one."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def _encode(sort: str, value: Any, case_id: int) -> str:
    raw = {"t": value.isoformat()} if isinstance(value, datetime) else value
    blob = json.dumps({"s": sort, "v": raw, "id": case_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(blob.encode()).decode()


def _value(raw: Any) -> Any:
    if isinstance(raw, dict):
        value = datetime.fromisoformat(raw["t"])
        if value.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        return value
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError("cursor value of unknown type")
    if not math.isfinite(raw) or abs(raw) > MAX_CURSOR_NUMBER:
        raise ValueError("cursor value out of range")
    return raw


def _decode(cursor: str, sort: str) -> tuple[Any, int]:
    """The position a cursor holds; it must have been made for ``sort`` (name and order)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        made_for, raw, case_id = data["s"], data["v"], data["id"]
        value = _value(raw)
        if isinstance(case_id, bool) or not isinstance(case_id, int) or not 1 <= case_id <= MAX_ID:
            raise ValueError("cursor position out of range")
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise BadCursor(f"the cursor is not one we issued ({exc})") from None
    if made_for != sort:
        raise BadCursor(f"the cursor was made for sort={made_for}, not sort={sort}")
    return value, case_id


def _after(column: InstrumentedAttribute[Any], desc: bool, value: Any, case_id: int) -> Any:
    if desc:
        return or_(column < value, and_(column == value, Case.id < case_id))
    return or_(column > value, and_(column == value, Case.id > case_id))


def list_cases(
    session: Session,
    flt: CaseFilter,
    sort: str = "sla_due_at",
    limit: int = 50,
    cursor: str | None = None,
) -> CasePage:
    """One page of cases matching ``flt`` in ``sort`` order (``-name`` = descending)."""
    desc = sort.startswith("-")
    column = SORTS[sort.lstrip("-")]
    where = flt.where()
    total = session.scalar(select(func.count(Case.id)).where(*where)) or 0
    query = select(Case).where(*where)
    if cursor:
        value, after_id = _decode(cursor, sort)
        if isinstance(value, datetime) != isinstance(column.type, UtcDateTime):
            raise BadCursor(f"the cursor does not fit sort={sort}")
        query = query.where(_after(column, desc, value, after_id))
    order = (column.desc(), Case.id.desc()) if desc else (column.asc(), Case.id.asc())
    query = query.order_by(*order).limit(limit + 1).options(selectinload(Case.assignee))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    next_cursor = _encode(sort, getattr(last, column.key), last.id) if last else None
    return CasePage(rows, total, next_cursor)


def severity_counts(session: Session, flt: CaseFilter) -> dict[str, int]:
    """Cases matching ``flt`` per severity (every severity present, zeros included)."""
    rows = session.execute(
        select(Case.severity, func.count(Case.id)).where(*flt.where()).group_by(Case.severity)
    )
    counts = dict.fromkeys(SEVERITIES, 0)
    counts.update({severity: n for severity, n in rows})
    return counts


def open_case_counts(session: Session, column: InstrumentedAttribute[Any]) -> dict[Any, int]:
    """Open cases grouped by ``column`` (device, model, assignee...)."""
    rows = session.execute(
        select(column, func.count(Case.id)).where(Case.status.in_(OPEN_STATUSES)).group_by(column)
    )
    return {key: n for key, n in rows}
