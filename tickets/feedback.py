"""Signed feedback links on every notification, and recording the customer's vote.

A token is ``itsdangerous`` URL-safe and timestamped, signed with
``TicketsConfig.secret_key`` (salt ``kizuki-feedback``), and carries the notification and
case ids. Links look like ``{public_base_url}/feedback/{token}?vote=up|down``; the API
serves that route and calls ``record_feedback``. A thumbs-down on a "detected" or
"update" notice puts the case in the "customer disagrees" review state for an agent to
look at; it never teaches the detectors (only an agent's "false alarm" resolution does,
see ``tickets.labels``). Changing the vote back leaves the state when another notice of
the case still has a thumbs-down.

A link works only for its own notice (it must be the token stored on the notification),
only until the case is closed (and never past ``max_age_s``), and once: the first vote
opens a window of ``CHANGE_WINDOW_S`` in which the customer may change their mind;
after it the link is spent.

Errors::

    FeedbackError
     +-- InvalidToken          forged, tampered or malformed token, or another notice's
     |    +-- ExpiredToken     genuine but older than max_age_s, or its case is closed
     +-- SpentToken            the vote was recorded and its change window has passed
     +-- UnknownNotification   token names a notification that no longer exists
     +-- InvalidVote           vote is not "up" or "down"
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from tickets.models import CaseEvent, Feedback, Notification, utcnow
from tickets.settings import TicketsConfig

SALT = "kizuki-feedback"
DEFAULT_MAX_AGE_S = 30 * 86400
CHANGE_WINDOW_S = 3600.0  # after the first vote, the link may change it for an hour
VOTES = ("up", "down")
DISPUTABLE = ("detected", "update")  # notices that say there is a problem
DISAGREES = "customer_disagrees"


class FeedbackError(Exception):
    """Feedback that cannot be recorded."""


class InvalidToken(FeedbackError):
    """The token was not signed by us (forged, tampered or truncated)."""


class ExpiredToken(InvalidToken):
    """The token is genuine but too old."""


class SpentToken(FeedbackError):
    """The vote was recorded and the window to change it has passed."""


class UnknownNotification(FeedbackError):
    """The token's notification does not exist (any more)."""


class InvalidVote(FeedbackError):
    """A vote other than "up" or "down"."""


@dataclass(frozen=True, slots=True)
class FeedbackClaim:
    notification_id: int
    case_id: int


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    case_id: int
    notification_id: int
    vote: str
    false_positive: bool


def _serializer(secret: str, now: Callable[[], float] | None) -> URLSafeTimedSerializer:
    class _Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(now()) if now is not None else int(time.time())

    return URLSafeTimedSerializer(secret, salt=SALT, signer=_Signer)


def _secret(settings: TicketsConfig) -> str:
    return settings.secret_key.get_secret_value()


def make_token(
    settings: TicketsConfig,
    notification_id: int,
    case_id: int,
    now: Callable[[], float] | None = None,
) -> str:
    """A signed, timestamped token for one notification."""
    payload = {"n": notification_id, "c": case_id}
    return str(_serializer(_secret(settings), now).dumps(payload))


def read_token(
    settings: TicketsConfig,
    token: str,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    now: Callable[[], float] | None = None,
) -> FeedbackClaim:
    """Verify ``token``; raises ``ExpiredToken`` or ``InvalidToken``."""
    try:
        data: Any = _serializer(_secret(settings), now).loads(token, max_age=int(max_age_s))
    except SignatureExpired:
        raise ExpiredToken("this feedback link has expired") from None
    except BadSignature:
        raise InvalidToken("this feedback link is not valid (bad signature)") from None
    if not isinstance(data, dict) or not {"n", "c"} <= data.keys():
        raise InvalidToken("this feedback link is not valid (bad payload)")
    return FeedbackClaim(notification_id=int(data["n"]), case_id=int(data["c"]))


def feedback_url(settings: TicketsConfig, token: str, vote: str | None = None) -> str:
    """The public link for ``token`` (with ``?vote=`` when given)."""
    base = settings.notify.public_base_url.rstrip("/")
    url = f"{base}/feedback/{token}"
    return f"{url}?vote={vote}" if vote else url


def record_feedback(
    session_factory: sessionmaker[Session],
    token: str,
    vote: str,
    comment: str = "",
    *,
    settings: TicketsConfig,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    now: Callable[[], float] | None = None,
) -> FeedbackResult:
    """Record (or change) the customer's vote on the notification behind ``token``.

    ``settings`` provides the signing key.
    One vote per notification: voting again within ``CHANGE_WINDOW_S`` of the first vote
    replaces it; later the link is spent (:class:`SpentToken`).
    """
    if vote not in VOTES:
        raise InvalidVote(f"vote must be 'up' or 'down', not {vote!r}")
    claim = read_token(settings, token, max_age_s, now)
    at = datetime.fromtimestamp(now(), UTC) if now is not None else utcnow()
    with session_factory.begin() as session:
        # row lock (PostgreSQL): concurrent votes on one notice apply one after the other
        notification = session.get(Notification, claim.notification_id, with_for_update=True)
        if notification is None or notification.case_id != claim.case_id:
            raise UnknownNotification(f"notification {claim.notification_id} does not exist")
        _check_usable(session, notification, token, at)
        _upsert_vote(session, notification, vote, comment.strip()[:2000], at)
        false_positive = vote == "down" and notification.kind in DISPUTABLE
        if notification.kind in DISPUTABLE:
            _review(session, notification, at)
        return FeedbackResult(notification.case_id, notification.id, vote, false_positive)


def check_link(
    session_factory: sessionmaker[Session],
    token: str,
    *,
    settings: TicketsConfig,
    now: Callable[[], float] | None = None,
) -> FeedbackClaim:
    """The claim of a link that may still vote; raises as :func:`record_feedback` would
    (so the page can say "expired" or "already recorded" before the customer votes)."""
    claim = read_token(settings, token, DEFAULT_MAX_AGE_S, now)
    at = datetime.fromtimestamp(now(), UTC) if now is not None else utcnow()
    with session_factory() as session:
        notification = session.get(Notification, claim.notification_id)
        if notification is None or notification.case_id != claim.case_id:
            raise UnknownNotification(f"notification {claim.notification_id} does not exist")
        _check_usable(session, notification, token, at)
    return claim


def _check_usable(session: Session, notification: Notification, token: str, at: datetime) -> None:
    """Raise unless ``token`` is this notice's link, its case is not closed and the vote
    (if any) is still within its change window."""
    if not hmac.compare_digest(notification.feedback_token.encode(), token.encode()):
        raise InvalidToken("this feedback link is not valid (not this notice's link)")
    if notification.case.status == "closed":
        raise ExpiredToken("this feedback link has expired (the case is closed)")
    earlier = session.scalar(select(Feedback).where(Feedback.notification_id == notification.id))
    if earlier is None:
        return
    first = earlier.first_at or earlier.at
    if at - first > timedelta(seconds=CHANGE_WINDOW_S):
        raise SpentToken("this feedback was recorded already; thank you")


def _upsert_vote(
    session: Session, notification: Notification, vote: str, comment: str, at: datetime
) -> None:
    """One vote per notification (unique index); a second vote, even a concurrent one,
    replaces the first (``INSERT ... ON CONFLICT DO UPDATE``)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {
        "case_id": notification.case_id,
        "notification_id": notification.id,
        "vote": vote,
        "comment": comment,
        "at": at,
        "first_at": at,
    }
    stmt = insert(Feedback).values(**values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["notification_id"],
            set_={
                "vote": stmt.excluded.vote,
                "comment": stmt.excluded.comment,
                "at": stmt.excluded.at,
            },
        )
    )
    session.add(
        CaseEvent(
            case_id=notification.case_id,
            at=at,
            actor=f"customer:{notification.customer_id}",
            kind="feedback",
            detail={"vote": vote, "comment": comment, "notification_id": notification.id},
        )
    )


def _review(session: Session, notification: Notification, at: datetime) -> None:
    """The case is in review while any of its notices has a thumbs-down."""
    case = notification.case
    # read again after our vote was written: on SQLite the write lock is only taken by the
    # upsert, so a concurrent vote may have changed the state since the case was loaded
    session.refresh(case, ["review_state"])
    downs = session.scalar(
        select(func.count())
        .select_from(Feedback)
        .where(Feedback.case_id == case.id, Feedback.vote == "down")
    )
    state = DISAGREES if downs else None
    if case.review_state == state:
        return
    case.review_state = state
    kind = "customer_disagrees" if state else "customer_agrees_again"
    actor = f"customer:{notification.customer_id}"
    session.add(CaseEvent(case_id=case.id, at=at, actor=actor, kind=kind, detail={}))
