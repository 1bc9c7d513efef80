"""Finding 7: a customer's feedback link could be replayed for 30 days, and each vote
changed what the detectors learn. Links are now bound to their notice, expire with the
case and are spent once the vote's change window has passed. Finding 8: the tamper
test's "tampered" token was sometimes the same token."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import httpx
import pytest
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select, update

from tests.api.world import World, open_case_reaching
from tests.conftest import tampered
from tests.security.conftest import csrf_of, served
from tickets.feedback import (
    CHANGE_WINDOW_S,
    ExpiredToken,
    InvalidToken,
    SpentToken,
    make_token,
    record_feedback,
)
from tickets.models import Case, DetectorLabel, Feedback, Notification


def _notice(world: World) -> Notification:
    case_id = open_case_reaching(world, "sms", "log://sms/+440000")
    with world.session_factory() as session:
        return session.scalars(select(Notification).where(Notification.case_id == case_id)).one()


def _vote(url: str, token: str, vote: str) -> int:
    with httpx.Client(base_url=url) as customer:
        form = customer.get(f"/feedback/{token}?vote={vote}")
        if form.status_code != 200:
            return form.status_code
        data = {"vote": vote, "csrf_token": csrf_of(form.text)}
        return customer.post(f"/feedback/{token}", data=data).status_code


def _labels(world: World) -> int:
    with world.session_factory() as session:
        return session.scalar(select(func.count()).select_from(DetectorLabel)) or 0


def test_a_link_replayed_after_its_change_window_changes_nothing(world: World) -> None:
    notice = _notice(world)
    with served(world, same_secret=True) as url:
        assert _vote(url, notice.feedback_token, "down") == 200
        assert _vote(url, notice.feedback_token, "up") == 200  # changed their mind at once
        with world.session_factory.begin() as session:  # ... and the link is found later
            vote = session.scalars(select(Feedback).where(Feedback.notification_id == notice.id))
            row = vote.one()
            row.first_at = row.at - timedelta(seconds=CHANGE_WINDOW_S + 1)
        labels = _labels(world)
        assert _vote(url, notice.feedback_token, "down") == 410
    with world.session_factory() as session:
        vote = session.scalars(select(Feedback).where(Feedback.notification_id == notice.id))
        assert vote.one().vote == "up" and _labels(world) == labels


def test_a_link_works_only_for_its_own_notice(world: World) -> None:
    notice = _notice(world)
    time.sleep(1.05)  # a new timestamp: a validly signed token that is not the one sent
    resigned = make_token(world.settings.tickets, notice.id, notice.case_id)
    assert resigned != notice.feedback_token
    with pytest.raises(InvalidToken, match="not this notice's link"):
        record_feedback(world.session_factory, resigned, "down", settings=world.settings.tickets)


def test_a_link_expires_with_its_case(world: World) -> None:
    notice = _notice(world)
    with world.session_factory.begin() as session:
        session.execute(update(Case).where(Case.id == notice.case_id).values(status="closed"))
    with pytest.raises(ExpiredToken, match="case is closed"):
        record_feedback(
            world.session_factory, notice.feedback_token, "up", settings=world.settings.tickets
        )


def test_a_spent_link_says_so(world: World) -> None:
    notice = _notice(world)
    later = time.time() + CHANGE_WINDOW_S + 60
    record_feedback(
        world.session_factory, notice.feedback_token, "up", settings=world.settings.tickets
    )
    with pytest.raises(SpentToken):
        record_feedback(
            world.session_factory,
            notice.feedback_token,
            "down",
            settings=world.settings.tickets,
            now=lambda: later,
        )


def test_a_tampered_token_is_never_the_same_token() -> None:
    """Finding 8, 5000 times over: every tampered token differs and fails its signature."""
    serializer = URLSafeTimedSerializer("k" * 40, salt="kizuki-feedback")
    rng = random.Random(12)
    for _ in range(5000):
        token = serializer.dumps({"n": rng.randrange(10**9), "c": rng.randrange(10**6)})
        bad = tampered(token)
        assert bad != token
        with pytest.raises(BadSignature):
            serializer.loads(bad)
