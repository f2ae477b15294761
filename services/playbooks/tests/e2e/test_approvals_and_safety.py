"""Approval matrix, approvals that expire, repeated approvals, the rate limit and the circuit
breaker, over real HTTP against the running service; every step lands on `actions`."""

from __future__ import annotations

import asyncio

from .conftest import Stack, read_topic


def path(incident_id: int, what: str) -> str:
    return f"/api/playbooks/incidents/{incident_id}/actions/{what}"


CLEAR = {"action_type": "clear_cache", "params": {"index_name": "approved-once"}}


def clears(stack: Stack, index: str) -> int:
    return sum(1 for r in stack.es.requests if r.path == f"/{index}/_cache/clear")


async def test_approval_matrix_on_a_sev1_incident(stack: Stack) -> None:
    await stack.open_incident(201, severity="sev1", playbooks=("clear_cache",))
    pending = await stack.call("responder", "POST", path(201, "execute"), CLEAR)
    assert pending.status_code == 202, pending.text
    body = pending.json()
    assert body["status"] == "pending_approval" and "sev1" in body["detail"]
    execution = body["execution_id"]
    listed = await stack.call("viewer", "GET", "/api/playbooks/approvals")
    assert execution in [a["execution_id"] for a in listed.json()["approvals"]]

    by_responder = await stack.call(
        "responder", "POST", f"/api/playbooks/approvals/{execution}/approve"
    )
    assert by_responder.status_code == 403 and "approver role" in by_responder.json()["detail"]
    naming_other = await stack.call(
        "approver", "POST", path(201, "execute"), {**CLEAR, "approved_by": "approver2@example.com"}
    )
    assert (
        naming_other.status_code == 403
        and "approved_by must be you" in naming_other.json()["detail"]
    )
    self_named_responder = await stack.call(
        "responder", "POST", path(201, "execute"), {**CLEAR, "approved_by": "responder@example.com"}
    )
    assert self_named_responder.status_code == 403
    assert clears(stack, "approved-once") == 0

    first = await stack.call("approver", "POST", f"/api/playbooks/approvals/{execution}/approve")
    again = await stack.call("approver2", "POST", f"/api/playbooks/approvals/{execution}/approve")
    assert first.status_code == 200 and first.json()["status"] == "succeeded", first.text
    assert first.json()["approved_by"] == "approver@example.com"
    assert again.status_code == 200 and again.json()["approved_by"] == "approver@example.com"
    assert clears(stack, "approved-once") == 1

    steps = await wait_steps(stack, 201, execution, 5)
    assert [(s.type, s.data.actor) for s in steps] == [
        ("ActionExecutionRequested", "responder@example.com"),
        ("ActionApprovalRequested", "responder@example.com"),
        ("ActionApproved", "approver@example.com"),
        ("ActionStarted", "approver@example.com"),
        ("ActionSucceeded", "approver@example.com"),
    ]
    assert steps[0].data.needs_approval and "sev1" in steps[1].data.reason


async def test_an_approver_naming_themself_executes_at_once(stack: Stack) -> None:
    await stack.open_incident(202, severity="sev1")
    r = await stack.call(
        "approver",
        "POST",
        path(202, "execute"),
        {
            "action_type": "clear_cache",
            "params": {"index_name": "self-approved"},
            "approved_by": "approver@example.com",
        },
    )
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    assert clears(stack, "self-approved") == 1


async def test_an_expired_approval_cannot_be_used(stack: Stack) -> None:
    await stack.open_incident(203, severity="sev1")
    r = await stack.call(
        "responder",
        "POST",
        path(203, "execute"),
        {"action_type": "clear_cache", "params": {"index_name": "expired"}},
    )
    execution = r.json()["execution_id"]
    steps = await wait_steps(stack, 203, execution, 3)
    assert steps[-1].type == "ActionApprovalExpired" and steps[-1].data.actor == "system"
    late = await stack.call("approver", "POST", f"/api/playbooks/approvals/{execution}/approve")
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    assert clears(stack, "expired") == 0
    history = (await stack.call("viewer", "GET", path(203, "").rstrip("/"))).json()
    assert history["executions"][0]["status"] == "expired"


async def test_rate_limit_refuses_further_runs_on_the_same_incident(stack: Stack) -> None:
    await stack.open_incident(204)
    await stack.open_incident(205)
    rated = {"action_type": "clear_cache", "params": {"index_name": "rated"}}
    for _ in range(2):
        assert (
            await stack.call("responder", "POST", path(204, "execute"), rated)
        ).status_code == 200
    third = await stack.call("responder", "POST", path(204, "execute"), rated)
    assert third.status_code == 409 and "rate limit" in third.json()["detail"]
    elsewhere = await stack.call("responder", "POST", path(205, "execute"), rated)
    assert elsewhere.status_code == 200
    assert clears(stack, "rated") == 3


async def test_circuit_breaker_opens_after_k_failures_until_an_admin_resets_it(
    stack: Stack,
) -> None:
    for incident in (206, 207, 208):
        await stack.open_incident(incident)
    failing = {"action_type": "custom_echo", "params": {"message": "hi", "fail": True}}
    for incident in (206, 207):
        r = await stack.call("responder", "POST", path(incident, "execute"), failing)
        assert r.status_code == 200 and r.json()["status"] == "failed", r.text
        assert "asked to fail" in r.json()["error"]
    ok = {"action_type": "custom_echo", "params": {"message": "hi"}}
    blocked = await stack.call("responder", "POST", path(208, "execute"), ok)
    assert blocked.status_code == 423, blocked.text
    assert "circuit breaker open" in blocked.json()["detail"]
    assert "/api/playbooks/actions/custom_echo/reset" in blocked.json()["detail"]
    listed = {
        a["name"]: a
        for a in (await stack.call("viewer", "GET", "/api/playbooks/actions")).json()["actions"]
    }
    assert listed["custom_echo"]["circuit"]["open"] is True

    not_admin = await stack.call("approver", "POST", "/api/playbooks/actions/custom_echo/reset")
    assert not_admin.status_code == 403
    reset = await stack.call("admin", "POST", "/api/playbooks/actions/custom_echo/reset")
    assert reset.status_code == 200 and reset.json()["was_open"] is True
    works = await stack.call("responder", "POST", path(208, "execute"), ok)
    assert works.status_code == 200 and works.json()["result"]["echo"] == "hi", works.text


async def test_history_records_who_did_what_and_whether_it_was_suggested(stack: Stack) -> None:
    await stack.open_incident(209, playbooks=("rerun_eval",), details={"agent": "inbox.triage"})
    await stack.call(
        "responder",
        "POST",
        path(209, "execute"),
        {"action_type": "custom_echo", "params": {"message": "m"}, "reason": "trying"},
    )
    history = (await stack.call("viewer", "GET", "/api/playbooks/incidents/209/actions")).json()
    assert history["executions"][0]["suggested"] is False
    assert history["executions"][0]["reason"] == "trying"
    types = [e["type"] for e in history["events"]]
    assert types == ["ActionExecutionRequested", "ActionStarted", "ActionSucceeded"]
    assert {e["actor"] for e in history["events"]} == {"responder@example.com"}


async def test_unknown_actions_incidents_and_bad_params_get_clear_4xx(stack: Stack) -> None:
    await stack.open_incident(210)
    unknown = await stack.call("responder", "POST", path(210, "dry-run"), {"action_type": "nope"})
    assert unknown.status_code == 422 and "known" in unknown.json()["detail"]
    missing = await stack.call("responder", "POST", path(999999, "dry-run"), CLEAR)
    assert missing.status_code == 404
    bad = await stack.call(
        "responder",
        "POST",
        path(210, "execute"),
        {"action_type": "rerun_dbt", "params": {"models": ["x; rm -rf /"]}},
    )
    assert bad.status_code == 422 and "params.models.0" in bad.json()["detail"]
    viewer = await stack.call("viewer", "POST", path(210, "dry-run"), CLEAR)
    assert viewer.status_code == 403


async def wait_steps(stack: Stack, incident_id: int, execution: str, n: int) -> list[object]:
    for _ in range(100):
        steps = [
            env
            for key, env in await read_topic(stack.bootstrap, stack.prefix + "actions")
            if env.data.execution_id == execution and key == str(incident_id)
        ]
        if len(steps) >= n:
            return steps
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {n} action events for {execution}")
