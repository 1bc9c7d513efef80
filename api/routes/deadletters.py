"""Messages ingest refused, with the reason (admins only: payloads are raw device data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.deps import Admin, CtxDep
from api.openapi import AUTH_ERRORS, problem_responses
from api.schemas import DeadLetterPublic, DeadLettersPublic
from core.readings import PREVIEW_BYTES, DeadLetter
from ingest.base import IngestError

router = APIRouter(prefix="/dead-letters", tags=["dead letters"], responses=AUTH_ERRORS)
MAX_PAGE = 100  # with payloads cut at 4 KiB, one page stays under ~2 MB


def _public(letter: DeadLetter) -> DeadLetterPublic:
    kept = letter.bounded(PREVIEW_BYTES)
    return DeadLetterPublic(
        id=kept.id,
        topic=kept.topic,
        reason=kept.reason,
        detail=kept.detail,
        received_at=kept.received_at,
        payload=kept.payload_preview,
        payload_bytes=kept.size if kept.size is not None else len(kept.payload),
        payload_base64=kept.payload_base64,
        truncated=kept.truncated,
        sha256=kept.sha256,
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
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> DeadLettersPublic:
    """Messages ingest refused, newest first, with the reason and the raw payload (its
    first 4 KiB as UTF-8 and as base64; larger messages are not kept whole: ``truncated``,
    ``payload_bytes`` and ``sha256`` describe them), at most 100 a page, plus how many are kept per
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
