"""The app factory: JSON API, web pages, static files, errors and auth wired together."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from api.auth import create_api_key
from api.clients import TrustedProxies
from api.context import AppContext
from api.deps import single_query_values
from api.docs_page import install_docs
from api.errors import install_error_handlers
from api.openapi import install_openapi
from api.readiness import Probe, Readiness, standard_probes, watch_outbox
from api.routes import (
    admin_page,
    agents,
    anomalies,
    case_page,
    cases,
    conversation,
    customer_page,
    customers,
    deadletters,
    device_page,
    devices,
    feedback,
    fleet_page,
    health,
    inbound,
    keys,
    knowledge,
    maintenance,
    pages,
    profile,
    queue_actions,
    users,
    web_auth,
)
from api.security import SecureCookies, SecurityHeaders
from api.settings import AppConfig
from api.templating import make_templates, render_error
from api.throttle import LoginThrottle, PasswordGate
from core.profiles import DeviceProfile, load_profiles
from ingest.base import DeadLetterStore, TelemetryStore
from tickets.service import CaseService

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
SESSION_MAX_AGE_S = 12 * 3600

OPENAPI_TAGS = [
    {
        "name": "cases",
        "description": "Service cases opened from anomalies, and what agents "
        "do to them. Acting needs the agent role.",
    },
    {
        "name": "devices",
        "description": "Devices with their latest readings and health, and "
        "their telemetry over time.",
    },
    {
        "name": "anomalies",
        "description": "The degradations detection reported, one per case (detections "
        "that opened no case are not stored).",
    },
    {"name": "customers", "description": "Customers and their contact points (agent role)."},
    {
        "name": "agents",
        "description": "The service team and its load; adding and changing agents needs "
        "the admin role.",
    },
    {"name": "knowledge base", "description": "The answer customers get, per failure mode."},
    {"name": "dead letters", "description": "Messages ingest refused (admin role)."},
    {"name": "api keys", "description": "Key management (admin role)."},
    {"name": "users", "description": "Web logins of the service team (admin role)."},
    {
        "name": "maintenance",
        "description": "Maintenance windows that silence a device's anomalies "
        "(listing: viewer; scheduling and cancelling: agent).",
    },
    {"name": "operations", "description": "Probes and Prometheus metrics; no credentials."},
    {
        "name": "inbound",
        "description": "Customers' replies relayed by SMS, chat and LINE gateways: signed "
        "with HMAC-SHA256 (X-Kizuki-Timestamp, X-Kizuki-Signature), no API key.",
    },
]
DESCRIPTION = """\
Send an API key in `X-API-Key` or as `Authorization: Bearer <key>`. Roles: **viewer**
reads devices, telemetry, anomalies, cases, agents and the knowledge base; **agent** also
acts on cases and reads customers; **admin** also reads dead letters and manages keys.
No credentials: 401; too little role: 403. A browser session (cookie) calling the API must
send its CSRF token as `X-CSRF-Token` on POST and DELETE.

Errors are `application/problem+json` (RFC 9457); 422 lists each bad field in `errors`.
Case lists page with an opaque `cursor` that only fits the `sort` it was made for.
Timestamps of records are ISO 8601 UTC; telemetry times are epoch seconds.
"""
API_ROUTERS = (
    devices,
    anomalies,
    cases,
    conversation,
    customers,
    agents,
    knowledge,
    deadletters,
    keys,
    users,
    maintenance,
)


def create_app(
    config: AppConfig,
    session_factory: sessionmaker[Session],
    store: TelemetryStore,
    deadletters: DeadLetterStore,
    profiles: dict[str, DeviceProfile] | None = None,
    case_service: Any = None,
    clock: Callable[[], float] = time.time,
    stale_after_s: float | None = None,
    probes: Mapping[str, Probe] | None = None,
) -> FastAPI:
    """Build the Kizuki web app over already-open stores (the case DB must be migrated).

    ``case_service`` performs case actions (a ``tickets.service.CaseService``); without one,
    a default is built over ``session_factory``. A device that sent nothing for
    ``stale_after_s`` (default: ``config.api.stale_after_s``) is silent. ``probes`` add
    to (or replace, by name) the readiness checks of the case DB and the store.
    """
    profiles = profiles if profiles is not None else load_profiles()
    app = FastAPI(
        title="Kizuki",
        version="0.1.0",
        summary="Proactive-service engine: devices, telemetry, anomalies and service cases.",
        description=DESCRIPTION,
        docs_url=None,  # api.docs_page serves it with local assets
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        openapi_tags=OPENAPI_TAGS,
    )
    service = case_service or _default_case_service(session_factory, profiles, config)
    stale = stale_after_s or config.api.stale_after_s
    app.state.ctx = AppContext(
        config, session_factory, store, deadletters, profiles, service, clock, float(stale)
    )
    app.state.readiness = Readiness({**standard_probes(session_factory, store), **(probes or {})})
    watch_outbox(session_factory)
    app.state.templates = make_templates()
    app.state.proxies = TrustedProxies.of(config.api.trusted_proxies)
    app.state.login_throttle = LoginThrottle(session_factory, clock)
    app.state.password_gate = PasswordGate(config.api.login_threads)
    install_error_handlers(app, render_error)  # its catch-all sits inside the session middleware
    _add_middleware(app, config)
    _include_routes(app)
    install_openapi(app)
    install_docs(app, "/api/v1/openapi.json")
    _bootstrap(config, session_factory)
    return app


def _add_middleware(app: FastAPI, config: AppConfig) -> None:
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.api.secret_key.get_secret_value(),
        session_cookie="kizuki_session",
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=config.production,
    )
    app.add_middleware(SecureCookies, proxies=app.state.proxies)  # outside: sees Set-Cookie


def _include_routes(app: FastAPI) -> None:
    for module in API_ROUTERS:
        app.include_router(
            module.router, prefix="/api/v1", dependencies=[Depends(single_query_values)]
        )
    app.include_router(health.router)
    app.include_router(feedback.router)
    app.include_router(inbound.router)
    app.include_router(web_auth.router)
    app.include_router(profile.router)
    app.include_router(queue_actions.router)
    app.include_router(pages.router)
    app.include_router(fleet_page.router)
    app.include_router(case_page.router)
    app.include_router(device_page.router)
    app.include_router(admin_page.router)
    app.include_router(customer_page.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _default_case_service(
    session_factory: sessionmaker[Session], profiles: dict[str, DeviceProfile], config: AppConfig
) -> CaseService:
    return CaseService(session_factory, profiles, config.tickets)


def _bootstrap(config: AppConfig, session_factory: sessionmaker[Session]) -> None:
    key = config.api.admin_api_key
    if key is not None and key.get_secret_value():
        create_api_key(session_factory, "bootstrap-admin", "admin", key=key.get_secret_value())
        log.info("bootstrap admin API key is in place")
