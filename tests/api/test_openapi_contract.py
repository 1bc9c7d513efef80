"""The OpenAPI document is the contract: schemathesis fuzzes every operation against a
real uvicorn server, with valid and invalid data, as admin and as viewer, and checks no
5xx, documented status codes, bodies matching the schema, valid data accepted and
invalid data refused. (schemathesis' pytest loader ``from_fixture`` breaks on pytest 9,
so the test drives its Hypothesis strategies directly, one operation at a time.)"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from api.auth import create_api_key
from tests.api.roles import RANK, needs_of
from tests.api.world import World

# (who, mode) -> examples per operation; the whole tests/api run stays near a minute
EXAMPLES = {
    ("admin", GenerationMode.POSITIVE): 30,
    ("admin", GenerationMode.NEGATIVE): 20,
    ("viewer", GenerationMode.POSITIVE): 12,
    ("viewer", GenerationMode.NEGATIVE): 8,
}


def _excluded(case: schemathesis.Case) -> list[Callable[..., object]]:
    # A well-formed string can still be a cursor we never issued (or one made for another
    # sort); refusing it with 400 is right, so only there may valid-looking data be refused.
    return [positive_data_acceptance] if "cursor" in (case.query or {}) else []


def _role_check(role: str, case: schemathesis.Case, status: int) -> None:
    """The role table, seen through the fuzzer: 403 exactly where the role is too low."""
    needs = needs_of(case.operation.method.upper(), case.operation.path)
    if needs == "public" or RANK[role] >= RANK[needs]:
        assert status != 403, f"{role} refused on {case.operation.label}"
    elif case.meta is not None and case.meta.generation.mode.is_positive:
        assert status == 403, f"{role} got {status} on {case.operation.label}"
    else:
        assert status in (403, 422), f"{role} got {status} on {case.operation.label}"


def _fuzz(
    operation: schemathesis.APIOperation,
    base_url: str,
    role: str,
    key: str,
    mode: GenerationMode,
    protected: set[str],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[(role, mode)],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        assume((case.path_parameters or {}).get("prefix") not in protected)  # our own keys
        response = case.call_and_validate(
            base_url=base_url, headers={"X-API-Key": key}, excluded_checks=_excluded(case)
        )
        _role_check(role, case, response.status_code)

    run()


@pytest.mark.parametrize("role", ["admin", "viewer"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_honours_the_openapi(
    world: World, base_url: str, role: str, mode: GenerationMode
) -> None:
    keys = {r: create_api_key(world.session_factory, f"fuzzer-{r}", r) for r in RANK}
    protected = {key.split("_")[1] for key in keys.values()}
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    # the credentials are ours (below), so requests reach the operation; the role
    # table's own tests cover missing and unknown keys
    schema.config.generation.update(with_security_parameters=False)
    failures: dict[str, str] = {}
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        tested += 1
        try:
            _fuzz(operation, base_url, role, keys[role], mode, protected)
        except Unsatisfiable:  # nothing to get wrong: no parameters, no body (/healthz)
            assert mode == GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # noqa: BLE001 - gather every operation's failure
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    document = httpx.get(f"{base_url}/api/v1/openapi.json").json()
    every = sum(1 for item in document["paths"].values() for _ in item)
    assert tested == every >= 25, "an operation of the document was not fuzzed"
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
