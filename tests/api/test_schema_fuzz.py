"""Schemathesis against our own OpenAPI schema, bounded: no generated input yields a 500, and
every API error is JSON with a stable code. Runs on the populated world (real batches).

Driven through schemathesis' Python API (one hypothesis run per operation) rather than its
pytest plugin, which does not load under the pytest version we pin.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import World

# Bounded so CI stays quick: ~20 operations x a few examples each (well under two minutes).
MAX_EXAMPLES = 10


def _check(case: Any, seen: list[int]) -> None:
    _check_response(case, case.call(), seen)


def _check_response(case: Any, response: Any, seen: list[int]) -> None:
    seen.append(response.status_code)
    where = (case.method, case.formatted_path)
    assert response.status_code < 500, (*where, response.text[:300])
    if response.status_code >= 400 and case.path.startswith("/api/"):
        body = response.json()
        assert isinstance(body["error"]["code"], str), (*where, body)


def test_no_server_errors(world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    seen: list[int] = []
    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            _check(case, seen)

        run()
    print(f"schemathesis: {len(operations)} operations, {len(seen)} calls, statuses {set(seen)}")
    assert len(seen) >= len(operations)


def test_stateful_links_no_server_errors(world: World) -> None:
    """Schemathesis' stateful phase: the links it infers between operations from the schema
    (e.g. a job id from POST .../jobs into GET /jobs/{id}) chained into call sequences of up
    to 5 calls; the same rules as above on every response."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    seen: list[int] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def validate_response(self, response: Any, case: Any, *a: Any, **k: Any) -> None:
            _check_response(case, response, seen)

    Machine.run(
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
    )
    print(f"schemathesis stateful: {len(seen)} calls, statuses {set(seen)}")
    assert seen
