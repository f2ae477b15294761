"""Every mutating route x every role -> 401 / 403 / allowed, table-driven; identity comes from
the token only and an approval is bound to the approver who gives it."""

from __future__ import annotations

from typing import Any

import pytest
from interventions_testkit.chaos import USERS, Stack

from .conftest import client, open_incident

ROLES = [None, "viewer", "responder", "approver", "admin", "producer"]
RESPONDERS = {"responder", "approver", "admin"}
APPROVERS = {"approver", "admin"}
# (method path template, body, roles allowed past authorization)
ROUTES: list[tuple[str, dict[str, Any] | list[Any] | None, set[str]]] = [
    ("/api/incidents/{id}/acknowledge", {}, RESPONDERS),
    ("/api/incidents/{id}/mitigate", {"notes": "n"}, RESPONDERS),
    ("/api/incidents/{id}/resolve", {"notes": "n"}, RESPONDERS),
    ("/api/incidents/{id}/close", {}, RESPONDERS),
    ("/api/incidents/{id}/reopen", {"notes": "n"}, RESPONDERS),
    ("/api/incidents/{id}/severity", {"severity": "sev2", "reason": "r"}, RESPONDERS),
    ("/api/incidents/{id}/escalate", {"reason": "r"}, RESPONDERS),
    ("/api/incidents/{id}/notes", {"text": "t"}, RESPONDERS),
    ("/api/playbooks/incidents/{id}/actions/dry-run", {"action_type": "rerun_eval"}, RESPONDERS),
    ("/api/playbooks/incidents/{id}/actions/execute", {"action_type": "nope"}, RESPONDERS),
    ("/api/playbooks/approvals/no-such-execution/approve", None, APPROVERS),
    ("/api/playbooks/executions/no-such-execution/rollback", {}, APPROVERS),
    ("/api/playbooks/actions/rerun_eval/reset", None, {"admin"}),
    ("/api/signals", [], {"producer", "admin"}),
]


@pytest.fixture(scope="module")
async def incident(stack: Stack) -> dict[str, Any]:
    return await open_incident(stack, "sec_matrix")


@pytest.mark.parametrize("role", ROLES, ids=[r or "none" for r in ROLES])
@pytest.mark.parametrize(("path", "body", "allowed"), ROUTES, ids=[r[0] for r in ROUTES])
async def test_role_gets_the_expected_answer_on_every_mutating_route(
    stack: Stack,
    incident: dict[str, Any],
    role: str | None,
    path: str,
    body: Any,
    allowed: set[str],
) -> None:
    url = path.format(id=incident["id"])
    async with client(stack, role) as c:
        resp = await c.post(url, json=body) if body is not None else await c.post(url)
    if role is None:
        assert resp.status_code == 401, resp.text
    elif role not in allowed:
        assert resp.status_code == 403, (role, url, resp.text)
    else:
        assert resp.status_code not in (401, 403) and resp.status_code < 500, (role, url, resp.text)
    assert "detail" in resp.json() or resp.status_code < 300


@pytest.mark.parametrize("header", ["Bearer iv_forged", "Basic dXNlcjpwYXNz", "Bearer", "iv_x"])
async def test_bad_or_foreign_credentials_are_401(stack: Stack, header: str) -> None:
    async with client(stack, None) as c:
        resp = await c.post("/api/incidents/1/acknowledge", headers={"authorization": header})
    assert resp.status_code == 401
    assert "iv_forged" not in resp.text


async def test_acknowledged_by_naming_someone_else_is_refused(
    stack: Stack, incident: dict[str, Any]
) -> None:
    other = USERS["approver"][0]
    async with client(stack, "responder") as c:
        resp = await c.post(
            f"/api/incidents/{incident['id']}/acknowledge", json={"acknowledged_by": other}
        )
    assert resp.status_code == 403
    assert "token" in resp.json()["detail"]


async def test_acknowledger_recorded_is_the_token_holder(stack: Stack) -> None:
    inc = await open_incident(stack, "sec_identity")
    async with client(stack, "responder") as c:
        resp = await c.post(f"/api/incidents/{inc['id']}/acknowledge", json={"notes": "x"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["acknowledged_by"] == USERS["responder"][0]


async def test_approval_is_bound_to_the_approver_giving_it(
    stack: Stack, incident: dict[str, Any]
) -> None:
    url = f"/api/playbooks/incidents/{incident['id']}/actions/execute"
    body = {"action_type": "rerun_eval", "params": {}}
    async with client(stack, "approver") as c:
        other = await c.post(url, json={**body, "approved_by": USERS["approver2"][0]})
    async with client(stack, "responder") as c:
        self_approved = await c.post(url, json={**body, "approved_by": USERS["responder"][0]})
    assert other.status_code == 403, other.text
    assert self_approved.status_code == 403, self_approved.text
