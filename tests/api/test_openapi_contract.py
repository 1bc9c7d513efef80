"""The OpenAPI document is the contract: schemathesis fuzzes every operation against a
real uvicorn server and checks no 5xx, documented status codes and bodies matching the
schema. (schemathesis' pytest loader ``from_fixture`` breaks on pytest 9, so the test
drives its Hypothesis strategies directly, one operation at a time.)"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.api.world import World

EXAMPLES_PER_OPERATION = 12
# A well-formed string can still be a cursor we never issued; answering 400 for it is
# right, so "schema-valid data must be accepted" does not hold for ?cursor=.
EXCLUDED = [positive_data_acceptance]


def _fuzz(operation: schemathesis.APIOperation, base_url: str, key: str) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=base_url, headers={"X-API-Key": key}, excluded_checks=EXCLUDED
        )

    run()


def test_every_operation_honours_the_openapi(world: World, base_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    failures: dict[str, str] = {}
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        tested += 1
        try:
            _fuzz(operation, base_url, world.keys["admin"])
        except Exception as exc:  # noqa: BLE001 - gather every operation's failure
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert tested >= 20
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
