"""OpenAPI touches: error responses are ``application/problem+json`` with our schema,
every operation documents 500, and 422 says what it means."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.schemas import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_CONTENT = {"application/problem+json": {"schema": PROBLEM_REF}}
FASTAPI_ERROR_REFS = {
    "#/components/schemas/HTTPValidationError",
    "#/components/schemas/Problem",
}
ERROR_TEXT = {
    400: "Bad request: a cursor we did not issue, or one made for another sort order.",
    401: "No credentials, or an unknown or revoked API key.",
    403: "Authenticated, but the role does not allow this (or a cookie session sent no "
    "X-CSRF-Token).",
    404: "No such resource.",
    409: "The action does not fit the case's current status.",
    413: "The body is larger than the endpoint accepts.",
    422: "The request does not fit this schema, or its body is not JSON: `errors` lists "
    "each offending field as `loc` (where) and `msg` (what is wrong).",
    500: "Something went wrong on our side; it is logged, and no traceback is shown.",
    503: "A backing store does not answer.",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these error codes, described as problem documents."""
    return {code: {"model": Problem, "description": ERROR_TEXT[code]} for code in codes}


AUTH_ERRORS = problem_responses(401, 403)


def _schema_ref(response: dict[str, Any]) -> str | None:
    for media in response.get("content", {}).values():
        ref = media.get("schema", {}).get("$ref")
        if ref:
            return str(ref)
    return None


def _fix_responses(responses: dict[str, Any]) -> None:
    for code, response in responses.items():
        if code.isdigit() and int(code) >= 400 and _schema_ref(response) in FASTAPI_ERROR_REFS:
            response["content"] = PROBLEM_CONTENT  # others (readyz's 503) keep their own body
    if "422" in responses:
        responses["422"]["description"] = ERROR_TEXT[422]
    responses.setdefault("500", {"description": ERROR_TEXT[500], "content": PROBLEM_CONTENT})


def _problemise(schema: dict[str, Any]) -> None:
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            _fix_responses(operation.setdefault("responses", {}))
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that describes errors as problem details."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            _problemise(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
