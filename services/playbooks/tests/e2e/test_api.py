"""The playbooks API over real HTTP against the running service: registry (with a custom
action from an entry point), side-effect-free dry-runs, real executions, command events on
the broker, the approval matrix, rate limit and circuit breaker."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from ..conftest import DBT_SCHEMA
from .conftest import Stack, read_topic

DRY_RUNS: dict[str, dict[str, Any]] = {
    "rerun_eval": {},
    "rerun_dbt": {"models": ["triage_results"], "upstream": True},
    "refresh_dbt_dependencies": {},
    "clear_cache": {"index_name": "emails"},
    "refresh_synonyms": {"index_name": "knowledge", "reindex": True},
    "rollback_planner": {"immediate": True},
    "adjust_canary_split": {"target_percent": 50},
}
PLANNER = {
    "agent": "inbox.triage",
    "version": "v1.2.3-canary",
    "baseline_version": "v1.2.2",
    "canary_percent": 10,
}


def path(incident_id: int, what: str) -> str:
    return f"/api/playbooks/incidents/{incident_id}/actions/{what}"


async def dbt_tables(stack: Stack) -> list[str]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
            DBT_SCHEMA,
        )
    finally:
        await conn.close()
    return [r["table_name"] for r in rows]


async def test_registry_lists_every_builtin_and_the_entry_point_action(stack: Stack) -> None:
    r = await stack.call("viewer", "GET", "/api/playbooks/actions")
    assert r.status_code == 200
    actions = {a["name"]: a for a in r.json()["actions"]}
    assert set(DRY_RUNS) | {"custom_echo"} <= set(actions)
    dbt = actions["rerun_dbt"]
    assert dbt["params_schema"]["properties"]["models"]["type"] == "array"
    assert "full_refresh" in dbt["approval_rule"] and dbt["can_rollback"] is False
    assert actions["rollback_planner"]["can_rollback"] is True
    assert actions["custom_echo"]["params_schema"]["required"] == ["message"]


async def test_every_builtin_dry_run_only_reads_and_answers_the_pinned_shape(stack: Stack) -> None:
    await stack.open_incident(101, details=PLANNER)
    before = len(stack.es.requests)
    for action, params in DRY_RUNS.items():
        r = await stack.call(
            "responder", "POST", path(101, "dry-run"), {"action_type": action, "params": params}
        )
        assert r.status_code == 200, (action, r.text)
        body = r.json()
        assert body["status"] == "dry_run_success", (action, body)
        assert body["estimated_duration"] and body["estimated_cost"].startswith("$")
        assert body["changes"] and all(isinstance(c, str) for c in body["changes"])
        if action == "rerun_dbt":  # 2 models (with upstream): 2 min and $0.05 each
            assert body["estimated_duration"] == "4 minutes" and body["estimated_cost"] == "$0.10"
            assert body["changes"][0] == "Will re-run 2 dbt models: inbox_emails, triage_results"
    seen = stack.es.requests[before:]
    assert seen and {r.method for r in seen} == {"GET"}
    assert await dbt_tables(stack) == []
    commands = await read_topic(stack.bootstrap, stack.prefix + "commands.eval") + await read_topic(
        stack.bootstrap, stack.prefix + "commands.planner"
    )
    assert [env for _, env in commands if env.data.incident_id == 101] == []


async def test_rerun_dbt_runs_the_project_and_the_models_table_exists(stack: Stack) -> None:
    await stack.open_incident(102, playbooks=("rerun_eval", "rerun_dbt"))
    r = await stack.call(
        "responder",
        "POST",
        path(102, "execute"),
        {"action_type": "rerun_dbt", "params": {"models": ["inbox_emails"]}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded" and r.json()["suggested"] is True
    assert "inbox_emails" in await dbt_tables(stack)


async def test_search_actions_send_exactly_the_documented_requests(stack: Stack) -> None:
    await stack.open_incident(103)
    before = len(stack.es.requests)
    for action in ("clear_cache", "refresh_synonyms"):
        r = await stack.call(
            "responder",
            "POST",
            path(103, "execute"),
            {"action_type": action, "params": {"index_name": "knowledge"}},
        )
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
        assert r.json()["suggested"] is False
    assert [(r.method, r.path, r.query) for r in stack.es.requests[before:]] == [
        ("POST", "/knowledge/_cache/clear", {"query": "true", "request": "true"}),
        ("POST", "/knowledge/_reload_search_analyzers", {}),
    ]


async def test_eval_and_planner_actions_put_command_events_on_the_broker(stack: Stack) -> None:
    await stack.open_incident(104, details=PLANNER, playbooks=("rollback_planner",))
    for action in ("rerun_eval", "rollback_planner", "adjust_canary_split"):
        params = {"target_percent": 5} if action == "adjust_canary_split" else {}
        r = await stack.call(
            "responder", "POST", path(104, "execute"), {"action_type": action, "params": params}
        )
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    split_id = r.json()["execution_id"]
    undo = await stack.call("approver", "POST", f"/api/playbooks/executions/{split_id}/rollback")
    assert undo.status_code == 200 and undo.json()["status"] == "rolled_back", undo.text
    evals = await wait_for(stack, "commands.eval", 104, 1)
    assert evals[0].type == "EvalRerunRequested"
    assert evals[0].data.model_dump() == {
        "agent": "inbox.triage",
        "task_id": None,
        "incident_id": 104,
        "requested_by": "responder@example.com",
    }
    planner = await wait_for(stack, "commands.planner", 104, 3)
    assert [e.type for e in planner] == [
        "PlannerRollbackRequested",
        "CanarySplitChangeRequested",
        "CanarySplitChangeRequested",
    ]
    assert planner[0].data.from_version == "v1.2.3-canary"
    assert planner[0].data.to_version == "v1.2.2" and planner[0].data.immediate is False
    assert planner[2].data.target_percent == 10  # the undo restores the previous split


async def wait_for(stack: Stack, topic: str, incident_id: int, n: int) -> list[Any]:
    for _ in range(100):
        found = [
            env
            for _, env in await read_topic(stack.bootstrap, stack.prefix + topic)
            if getattr(env.data, "incident_id", None) == incident_id
        ]
        if len(found) >= n:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {n} events on {topic} for incident {incident_id}")
