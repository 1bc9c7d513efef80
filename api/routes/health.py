"""Liveness, readiness and Prometheus metrics (unauthenticated, as probes expect)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.schemas import Health, Readiness
from core.metrics import REGISTRY

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    """Liveness: the process answers HTTP. No credentials."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Every dependency answers",
    responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
)
def readyz(request: Request) -> Response:
    """Readiness (200), or not (503, the same body saying which check failed): the case
    database answers (``cases_db``) and the telemetry store can be read, and written
    without a stalled write (``telemetry_store``); in the engine also the MQTT broker
    connection (``broker_connected``) and the notification dispatcher loop
    (``dispatcher``). Each check gets at most two seconds. No credentials."""
    checks = request.app.state.readiness.check()
    ready = all(checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    """Prometheus text exposition: readings in, dead letters by reason, write latency and
    stalls, ingest lag and queue, broker connection, readiness per check, outbox backlog
    and the age of its oldest unsent notice, anomalies, cases, notifications, process CPU
    and memory. No credentials."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
