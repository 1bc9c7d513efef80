"""Messages ingest refused, with the reason (admins only: payloads are raw device data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.deps import Admin, CtxDep
from api.openapi import AUTH_ERRORS, problem_responses
from api.schemas import DeadLetterPublic, DeadLettersPublic
from core.readings import DeadLetter
from ingest.base import IngestError

router = APIRouter(prefix="/dead-letters", tags=["dead letters"], responses=AUTH_ERRORS)
PAYLOAD_CUT = 4096


def _public(letter: DeadLetter) -> DeadLetterPublic:
    return DeadLetterPublic(
        id=letter.id,
        topic=letter.topic,
        reason=letter.reason,
        detail=letter.detail,
        received_at=letter.received_at,
        payload=letter.payload[:PAYLOAD_CUT].decode("utf-8", errors="replace"),
        payload_bytes=len(letter.payload),
        payload_base64=letter.payload_base64,
    )


@router.get(
    "",
    response_model=DeadLettersPublic,
    summary="Refused messages, newest first",
    responses=problem_responses(503),
)
def read_dead_letters(
    _: Admin,
    ctx: CtxDep,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeadLettersPublic:
    """Messages ingest refused, newest first, with the reason and the raw payload (a UTF-8
    preview cut at 4 KiB, and the whole payload in base64), plus how many are kept per
    reason (``core.readings.DEAD_LETTER_REASONS``: not_json, empty_payload, bad_schema, wrong_type,
    non_finite, missing_ts, ts_future, ts_past, too_large, unknown_metric, out_of_range,
    reserved_name, topic_mismatch, bad_topic, parser_error, store_rejected). Page with
    ``before_id=next_cursor``."""
    try:
        letters = ctx.deadletters.list(limit=limit, before_id=before_id, reason=reason)
        counts = ctx.deadletters.counts()
    except IngestError as exc:
        raise HTTPException(503, f"The dead-letter store does not answer: {exc}") from None
    last = letters[-1].id if len(letters) == limit and letters else None
    return DeadLettersPublic(
        data=[_public(d) for d in letters], count=len(letters), next_cursor=last, counts=counts
    )
