"""Signed feedback links: votes recorded, disagreement reviewed, bad tokens refused."""

from __future__ import annotations

import dataclasses
import time

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from tests.conftest import tampered
from tests.tickets.conftest import make_event
from tickets.feedback import (
    ExpiredToken,
    InvalidToken,
    InvalidVote,
    UnknownNotification,
    feedback_url,
    make_token,
    read_token,
    record_feedback,
)
from tickets.models import Case, CaseEvent, DetectorLabel, Feedback, Notification
from tickets.service import CaseService


@pytest.fixture
def notice(fleet, profiles, settings, clock) -> Notification:
    CaseService(fleet, profiles, settings, clock=clock).handle(make_event())
    with fleet() as session:
        return session.scalars(select(Notification)).one()


def test_every_notice_links_to_signed_votes(notice, settings):
    up = feedback_url(settings, notice.feedback_token, "up")
    assert up == f"https://kizuki.example/feedback/{notice.feedback_token}?vote=up"
    assert up in notice.short_body and up in notice.long_body
    claim = read_token(settings, notice.feedback_token)
    assert (claim.notification_id, claim.case_id) == (notice.id, notice.case_id)


def test_thumbs_up_is_recorded_on_the_case(fleet, notice, settings):
    result = record_feedback(fleet, notice.feedback_token, "up", "thanks!", settings=settings)
    assert result.vote == "up" and result.false_positive is False
    with fleet() as session:
        fb = session.scalars(select(Feedback)).one()
        assert (fb.case_id, fb.vote, fb.comment) == (notice.case_id, "up", "thanks!")
        event = session.scalars(select(CaseEvent).where(CaseEvent.kind == "feedback")).one()
        assert event.actor == "customer:c-ja" and event.detail["vote"] == "up"
        assert session.scalars(select(DetectorLabel)).all() == []


def test_thumbs_down_puts_the_case_in_review_and_teaches_the_detectors_nothing(
    fleet, notice, settings
):
    """Finding 6: a customer's vote is evidence for an agent, not a detector label."""
    result = record_feedback(fleet, notice.feedback_token, "down", "works fine", settings=settings)
    assert result.false_positive is True
    with fleet() as session:
        case = session.get_one(Case, notice.case_id)
        assert case.review_state == "customer_disagrees"
        kinds = [e.kind for e in case.events]
        assert kinds[-2:] == ["feedback", "customer_disagrees"]
        assert session.scalars(select(DetectorLabel)).all() == []
    # changing one's mind replaces the vote and ends the review
    record_feedback(fleet, notice.feedback_token, "up", settings=settings)
    with fleet() as session:
        assert [f.vote for f in session.scalars(select(Feedback))] == ["up"]
        assert session.get_one(Case, notice.case_id).review_state is None
        assert session.scalars(select(DetectorLabel)).all() == []


def test_forged_or_tampered_tokens_are_refused(fleet, notice, settings):
    other = dataclasses.replace(settings, secret_key=SecretStr("someone-else"))
    forged = make_token(other, notice.id, notice.case_id)
    for bad in (forged, tampered(notice.feedback_token), "not-a-token", ""):
        with pytest.raises(InvalidToken, match="not valid"):
            record_feedback(fleet, bad, "down", settings=settings)
    with fleet() as session:
        assert session.scalars(select(Feedback)).all() == []


def test_expired_tokens_are_refused(fleet, notice, settings):
    month_ago = time.time() - 31 * 86400
    old = make_token(settings, notice.id, notice.case_id, now=lambda: month_ago)
    with pytest.raises(ExpiredToken, match="expired"):
        record_feedback(fleet, old, "up", settings=settings)
    # ... and a fresh token is accepted up to the limit
    assert record_feedback(fleet, notice.feedback_token, "up", settings=settings).vote == "up"


def test_bad_vote_and_unknown_notification(fleet, notice, settings):
    with pytest.raises(InvalidVote):
        record_feedback(fleet, notice.feedback_token, "meh", settings=settings)
    ghost = make_token(settings, 999_999, notice.case_id)
    with pytest.raises(UnknownNotification):
        record_feedback(fleet, ghost, "up", settings=settings)


def test_concurrent_votes_on_one_notice_leave_one_vote(fleet, notice, settings):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(6)

    def vote(i: int) -> None:
        barrier.wait()
        record_feedback(fleet, notice.feedback_token, "up" if i % 2 else "down", settings=settings)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(vote, range(6)))
    with fleet() as session:
        [final] = session.scalars(select(Feedback)).all()
        review = session.get_one(Case, notice.case_id).review_state
        assert session.scalars(select(DetectorLabel)).all() == []
    assert review == ("customer_disagrees" if final.vote == "down" else None)
