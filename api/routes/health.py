"""Liveness, readiness and Prometheus metrics (unauthenticated, as probes expect)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import CtxDep
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
    summary="The case database and telemetry store answer",
    responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
)
def readyz(ctx: CtxDep) -> Response:
    """Readiness: the case database and the telemetry store both answer (200), or not
    (503, the same body saying which check failed). No credentials."""
    checks = {"cases_db": _db_ok(ctx), "telemetry_store": _store_ok(ctx)}
    ready = all(checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _db_ok(ctx: CtxDep) -> bool:
    try:
        with ctx.session_factory() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


def _store_ok(ctx: CtxDep) -> bool:
    try:
        ctx.store.latest("__readyz__")
        return True
    except Exception:  # noqa: BLE001
        return False


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    """Prometheus text exposition: readings in, dead letters, write latency, anomalies,
    cases opened, notifications sent and failed. No credentials."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
