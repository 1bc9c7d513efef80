"""The OpenAPI document read the way a client developer reads it: every operation says
what it does, what it answers and how it fails; every schema shows an example."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.world import World

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
NO_CREDENTIALS = {"/healthz", "/readyz", "/metrics", "/hooks/inbound/{channel}"}  # signed instead


@pytest.fixture(scope="module")
def doc(base_url: str) -> dict[str, Any]:
    return httpx.get(f"{base_url}/api/v1/openapi.json").json()


def operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    ]


def _problems(label: str, op: dict[str, Any]) -> list[str]:
    """What a client developer would miss in one operation."""
    path = label.split(" ", 1)[1]
    responses, missing = op["responses"], []
    if not (op.get("summary") and op.get("description")):
        missing.append("summary and description")
    ok = [code for code in responses if code.startswith("2")]
    if not ok or (ok[0] != "204" and not responses[ok[0]].get("content")):
        missing.append("a 2xx response with a body schema")
    needed = {"500"} | ({"422"} if op.get("parameters") or op.get("requestBody") else set())
    if path not in NO_CREDENTIALS:
        needed |= {"401", "403"}
        if not op.get("security"):
            missing.append("security")
    missing += [f"response {code}" for code in sorted(needed - set(responses))]
    for code, response in responses.items():
        if code.startswith(("4", "5")) and label != "GET /readyz":
            if response.get("content") != PROBLEM:
                missing.append(f"{code} as a problem document")
            if response["description"] in ("Error.", "Validation Error"):
                missing.append(f"{code} says what it means")
    return missing


def test_every_operation_is_fully_documented(doc: dict[str, Any]) -> None:
    found = operations(doc)
    assert len(found) >= 25
    gaps = {label: p for label, op in found if (p := _problems(label, op))}
    assert not gaps, gaps


def test_every_schema_has_an_example_and_list_examples_hold_items(
    doc: dict[str, Any],
) -> None:
    schemas = doc["components"]["schemas"]
    assert not [name for name, schema in schemas.items() if not schema.get("examples")]
    wrappers = [name for name in schemas if name.endswith("sPublic")]
    assert len(wrappers) >= 8  # cases, anomalies, devices, customers, agents, kb, keys, letters
    for name in wrappers:
        example = schemas[name]["examples"][0]
        assert example["data"] and example["count"] == len(example["data"]), name


def test_readyz_documents_its_own_body_for_503(doc: dict[str, Any]) -> None:
    not_ready = doc["paths"]["/readyz"]["get"]["responses"]["503"]
    assert not_ready["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}
    }


def test_tags_and_auth_are_explained(doc: dict[str, Any]) -> None:
    assert {"APIKeyHeader", "HTTPBearer"} <= set(doc["components"]["securitySchemes"])
    assert {t["name"] for t in doc["tags"]} >= {"cases", "devices", "anomalies", "operations"}
    assert "X-API-Key" in doc["info"]["description"]
    anomalies = doc["paths"]["/api/v1/anomalies"]["get"]["description"]
    assert "not stored" in anomalies  # detections without a case are not kept


@pytest.mark.parametrize("body", [b"\x80abc", b'{"note": "\xff"}', b"{not json", b'{"note": "x'])
def test_an_unreadable_body_is_a_422_problem(
    client: httpx.Client, world: World, body: bytes
) -> None:
    response = client.post(
        f"/api/v1/cases/{world.cases['filter']}/resolve",
        content=body,
        headers={"X-API-Key": world.keys["agent"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"][0] == "body"
