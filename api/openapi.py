"""OpenAPI touches: every error response is ``application/problem+json`` with our schema."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.schemas import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these error codes, described as problem documents."""
    text = {
        400: "Bad request.",
        401: "No credentials, or an unknown or revoked API key.",
        403: "Authenticated, but the role does not allow this.",
        404: "No such resource.",
        409: "The action does not fit the case's current status.",
        503: "A backing store does not answer.",
    }
    return {code: {"model": Problem, "description": text.get(code, "Error.")} for code in codes}


AUTH_ERRORS = problem_responses(401, 403, 422)


def _problemise(schema: dict[str, Any]) -> None:
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for code, response in operation.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400 and "content" in response:
                    response["content"] = {"application/problem+json": {"schema": PROBLEM_REF}}
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
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            _problemise(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
