"""schemathesis over the running gateway's OpenAPI: every operation, generated (valid and
invalid) requests with an admin token, never a 5xx. The whole stack runs as processes, so a
route the gateway forwards reaches a real service."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from interventions_testkit.chaos import Stack
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

pytestmark = pytest.mark.timeout(300)
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "20"))
# streams never end, so a generated request would hang on them (limits: tests/security)
STREAMING = ("/api/sse/",)


@pytest.fixture(scope="module")
async def full_stack(
    pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("schemathesis"), pg_admin_dsn)
    try:
        await s.start()
        yield s
    finally:
        await s.stop()


def _fuzz(schema: Any, base_url: str, token: str) -> list[str]:
    """Every operation, MAX_EXAMPLES cases each; returns one line per 5xx found."""
    found: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        if not any(op.path.startswith(p) for p in STREAMING):
            _fuzz_one(op, base_url, {"authorization": f"Bearer {token}"}, found)
    return found


def _fuzz_one(op: Any, base_url: str, headers: dict[str, str], found: list[str]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize="SCHEMATHESIS_MAX_EXAMPLES" not in os.environ,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(op.as_strategy())
        resp = case.call(base_url=base_url, headers=headers, timeout=15)
        try:
            case.validate_response(resp, checks=[not_a_server_error])
        except FailureGroup:  # collected, so every operation still runs
            found.append(
                f"{op.method.upper()} {op.path}: {resp.status_code}: {case.as_curl_command()}"
            )

    run()


async def test_no_operation_of_the_gateway_answers_a_5xx(full_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=full_stack.url, timeout=15) as c:
        raw = (await c.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(raw)
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), "every operation of the OpenAPI loads"
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) > 10, "the gateway's OpenAPI lists its routes"
    found = await asyncio.to_thread(_fuzz, schema, full_stack.url, full_stack.tokens["admin"])
    assert not found, "\n".join(sorted(set(found)))
