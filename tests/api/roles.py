"""Who may call what: one row per route of the app (JSON API, pages, forms, public).

``needs`` is the least role: ``public`` routes take no credentials; the others answer
nobody with 401 (API) or a redirect to /login (pages and forms), and a role below
``needs`` with 403. ``test_authorization`` fails when a route of the app has no row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute, Mount

RANK = {"viewer": 0, "agent": 1, "admin": 2}
ROLES = tuple(RANK)


@dataclass(frozen=True)
class Row:
    method: str
    template: str  # the route's path as the app declares it
    url: str  # a concrete URL; {case_id}, {prefix}, {csrf} filled in by the test
    needs: str  # public | viewer | agent | admin
    body: dict[str, Any] | None = None  # JSON for the API, form fields for pages
    public_codes: tuple[int, ...] = ()  # public rows: what anyone may get

    @property
    def is_api(self) -> bool:
        return self.template.startswith("/api/v1/") and "openapi" not in self.template

    def allows(self, role: str) -> bool:
        return self.needs == "public" or RANK[role] >= RANK[self.needs]


def _api(method: str, path: str, needs: str, body: dict[str, Any] | None = None) -> Row:
    template = "/api/v1" + path.split("?")[0]
    return Row(method, template, "/api/v1" + path, needs, body)


CASE = "/cases/{case_id}"
API = [
    _api("GET", "/devices", "viewer"),
    _api("GET", "/devices/{device_id}", "viewer"),
    _api("GET", "/devices/{device_id}/telemetry?metric=filter_dp_pa", "viewer"),
    _api("GET", "/anomalies", "viewer"),
    _api("GET", "/cases", "viewer"),
    _api("GET", CASE, "viewer"),
    _api("POST", CASE + "/acknowledge", "agent"),
    _api("POST", CASE + "/assign", "agent", {"agent_id": 1}),
    _api("POST", CASE + "/start", "agent"),
    _api("POST", CASE + "/notes", "agent", {"text": "checked"}),
    _api("POST", CASE + "/resolve", "agent", {"code": "duplicate", "note": "fixed"}),
    _api("POST", CASE + "/review", "agent", {"note": "looked at it"}),
    _api("POST", CASE + "/label", "admin", {"note": "benign"}),
    _api("DELETE", CASE + "/label", "admin"),
    _api("POST", CASE + "/close", "agent", {}),
    _api("POST", CASE + "/reopen", "agent", {}),
    _api("GET", CASE + "/messages", "agent"),
    _api("POST", CASE + "/messages", "agent", {"text": "A technician calls tomorrow."}),
    _api("POST", CASE + "/external-ref", "agent", {"external_ref": "ZD-1"}),
    _api("GET", "/customers", "agent"),
    _api("GET", "/customers/{customer_id}", "agent"),
    _api("GET", "/agents", "viewer"),
    _api("GET", "/kb", "viewer"),
    _api("GET", "/kb/{article_id}", "viewer"),
    _api("GET", "/dead-letters", "admin"),
    _api("GET", "/api-keys", "admin"),
    _api("POST", "/api-keys", "admin", {"name": "ci", "role": "viewer"}),
    _api("DELETE", "/api-keys/{prefix}", "admin"),
    _api("POST", "/agents", "admin", {"name": "Role Test", "email": "role@example.com"}),
    _api("PATCH", "/agents/{agent_id}", "admin", {"capacity": 5}),
    _api("GET", "/users", "admin"),
    _api("POST", "/users", "admin", {"username": "role-test", "role": "viewer"}),
    _api("PATCH", "/users/{username}", "admin", {"active": True}),
    _api("GET", "/maintenance", "viewer"),
    _api(
        "POST",
        "/maintenance",
        "agent",
        {
            "device_id": "ac-00001",
            "starts_at": "2030-01-01T00:00:00Z",
            "minutes": 60,
        },
    ),
    _api("DELETE", "/maintenance/{window_id}", "agent"),
]
ACTION = CASE + "/actions/{action}"
FORM = {"csrf_token": "{csrf}"}
PAGES = [
    Row("GET", "/cases", "/cases?severity=high", "viewer"),
    Row("GET", CASE, CASE, "viewer"),
    Row("GET", "/fleet", "/fleet?model=aircon-x1", "viewer"),
    Row("GET", "/devices/{device_id}", "/devices/ac-00001", "viewer"),
    Row("GET", "/customers/{customer_id}", "/customers/c-0001", "agent"),
    *[
        Row("POST", ACTION, f"{CASE}/actions/{action}", "agent", FORM | extra)
        for action, extra in [
            ("acknowledge", {}),
            ("assign", {"agent_id": "1"}),
            ("start", {}),
            ("note", {"text": "checked"}),
            ("write", {"text": "A technician calls tomorrow."}),
            ("link", {"external_ref": "ZD-1"}),
            ("resolve", {"text": "fixed", "code": "duplicate"}),
            ("review", {"text": "looked at it"}),
            ("close", {}),
            ("reopen", {"text": "again"}),
        ]
    ],
    Row("POST", "/me/locale", "/me/locale", "viewer", FORM | {"locale": "en"}),
    Row("GET", "/admin", "/admin", "admin"),
    Row(
        "POST",
        "/admin/users",
        "/admin/users",
        "admin",
        FORM | {"username": "role-page", "role": "viewer"},
    ),
    Row(
        "POST",
        "/admin/users/{username}/active",
        "/admin/users/{username}/active",
        "admin",
        FORM | {"active": "true"},
    ),
    Row(
        "POST",
        "/admin/agents",
        "/admin/agents",
        "admin",
        FORM | {"name": "Page Agent", "email": "page-agent@example.com", "skills": "plumbing"},
    ),
    Row(
        "POST",
        "/admin/agents/{agent_id}/active",
        "/admin/agents/{agent_id}/active",
        "admin",
        FORM | {"active": "true"},
    ),
    Row("POST", "/admin/keys", "/admin/keys", "admin", FORM | {"name": "page", "role": "viewer"}),
    Row("POST", "/admin/keys/{prefix}/revoke", "/admin/keys/{prefix}/revoke", "admin", FORM),
    Row(
        "POST",
        "/admin/maintenance",
        "/admin/maintenance",
        "admin",
        FORM | {"device_id": "ac-00001", "starts_at": "2030-01-01T00:00", "minutes": "30"},
    ),
    Row(
        "POST",
        "/admin/maintenance/{window_id}/cancel",
        "/admin/maintenance/{window_id}/cancel",
        "admin",
        FORM,
    ),
    Row("GET", "/me", "/me", "viewer"),
    Row("GET", "/cases/export.csv", "/cases/export.csv?severity=low", "viewer"),
    Row("POST", "/me/profile", "/me/profile", "viewer", FORM | {"locale": "en", "timezone": "UTC"}),
    Row(
        "POST",
        "/cases/bulk",
        "/cases/bulk",
        "agent",
        FORM | {"action": "acknowledge", "case_id": "{case_id}"},
    ),
    Row(
        "POST",
        "/cases/new",
        "/cases/new",
        "agent",
        FORM | {"device_id": "ac-00003", "failure_mode": "sensor_fault", "text": "customer called"},
    ),
]
PUBLIC = [
    Row("GET", "/", "/", "public", public_codes=(303,)),
    Row("GET", "/login", "/login", "public", public_codes=(200, 303)),
    Row("POST", "/login", "/login", "public", FORM | {"username": "x", "password": "y"}, (401,)),
    Row("POST", "/logout", "/logout", "public", FORM, (303,)),
    Row("GET", "/feedback/{token}", "/feedback/forged", "public", public_codes=(400,)),
    Row("POST", "/feedback/{token}", "/feedback/forged", "public", FORM | {"vote": "up"}, (400,)),
    Row("POST", "/hooks/inbound/{channel}", "/hooks/inbound/sms", "public", {}, (401,)),
    Row("GET", "/healthz", "/healthz", "public", public_codes=(200,)),
    Row("GET", "/readyz", "/readyz", "public", public_codes=(200,)),
    Row("GET", "/metrics", "/metrics", "public", public_codes=(200,)),
    Row("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", "public", public_codes=(200,)),
    Row("GET", "/api/docs", "/api/docs", "public", public_codes=(200,)),
    Row(
        "GET",
        "/api/docs-assets/{path}",
        "/api/docs-assets/swagger-ui-bundle.js",
        "public",
        public_codes=(200,),
    ),
    Row("GET", "/static/{path}", "/static/kizuki.css", "public", public_codes=(200,)),
]
EVERY_ROW = API + PAGES + PUBLIC


def _walk(routes: list[BaseRoute], prefix: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's lazy include
        if included is not None:
            inner = prefix + route.include_context.prefix  # type: ignore[attr-defined]
            found |= _walk(included.routes, inner)
        elif isinstance(route, Mount):
            found.add(("GET", prefix + route.path + "/{path}"))
        elif methods := getattr(route, "methods", None):
            path = prefix + route.path  # type: ignore[attr-defined]
            found |= {(method, path) for method in methods - {"HEAD"}}
        else:
            raise AssertionError(f"a route of an unknown kind: {route!r}")
    return found


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves, included routers walked."""
    return _walk(list(app.routes), "")


def needs_of(method: str, template: str) -> str:
    """The least role the table gives a route."""
    return next(r.needs for r in EVERY_ROW if (r.method, r.template) == (method, template))
