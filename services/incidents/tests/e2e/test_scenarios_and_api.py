"""The guide's three scenarios and the API rules, against `python -m incidents` running as a
real process with a real broker and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from interventions_events import decode, topics


async def by_key(shared_service: Any, key: str, n: int = 1) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        items = await shared_service.incidents(key=key)
        return items if len(items) >= n else None

    return list(await shared_service.wait_for(check))


@pytest.fixture(scope="module")
async def scenarios(shared_service: Any, kit: Any, kafka_bootstrap: str) -> dict[str, Any]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await p.start()
    try:
        envs = [
            kit.envelope(kit.freshness()),
            kit.envelope(kit.latency()),
            kit.envelope(kit.canary()),
        ]
        await kit.publish(p, shared_service.prefix, envs, kit.by_key)
    finally:
        await p.stop()
    keys = [
        "INV_data_freshness_inbox",
        "BUDGET_inbox.triage_latency_p95",
        "PLANNER_REG_v1.2.3-canary",
    ]
    return {k: (await by_key(shared_service, k))[0] for k in keys}


async def test_freshness_failure_opens_sev1_with_rerun_eval_and_rerun_dbt(
    scenarios: dict[str, Any],
) -> None:
    inc = scenarios["INV_data_freshness_inbox"]
    assert (inc["kind"], inc["severity"], inc["status"]) == ("invariant", "sev1", "open")
    assert inc["playbooks"] == ["rerun_eval", "rerun_dbt"]
    assert inc["summary"] == "Data freshness violation for inbox.triage"
    assert (inc["details"]["invariant"]["threshold"], inc["details"]["invariant"]["actual"]) == (
        300,
        1800,
    )
    assert (inc["owner_team"], inc["occurrences"], inc["version"]) == ("data-platform", 1, 1)


async def test_latency_budget_opens_sev2_with_clear_cache_and_the_guides_summary(
    scenarios: dict[str, Any],
) -> None:
    inc = scenarios["BUDGET_inbox.triage_latency_p95"]
    assert (inc["kind"], inc["severity"]) == ("budget", "sev2")
    assert inc["summary"] == "P95 latency 1850ms exceeds budget 1000ms"
    assert inc["playbooks"] == ["clear_cache"]
    assert inc["details"]["violation"]["budget_type"] == "latency_p95"
    assert inc["details"]["current_metrics"]["p95_latency_ms"] == 1850


async def test_canary_regression_opens_sev1_with_rollback_only(scenarios: dict[str, Any]) -> None:
    inc = scenarios["PLANNER_REG_v1.2.3-canary"]
    assert (inc["kind"], inc["severity"], inc["owner_team"]) == ("planner", "sev1", "ml-platform")
    assert inc["playbooks"] == ["rollback_planner"]
    assert inc["summary"] == "Planner regression: v1.2.3-canary accuracy"
    assert inc["details"]["regression"]["drop"] == 0.13


async def test_incident_ids_are_distinct_integers(scenarios: dict[str, Any]) -> None:
    ids = [inc["id"] for inc in scenarios.values()]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 3


async def test_opened_incidents_are_published_with_their_snapshot(
    shared_service: Any,
    scenarios: dict[str, Any],
    kafka_bootstrap: str,
) -> None:
    consumer = AIOKafkaConsumer(
        topics.full(topics.INCIDENTS, shared_service.prefix),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen: dict[int, dict[str, Any]] = {}
        while len(seen) < 3:
            batch = await consumer.getmany(timeout_ms=2000)
            assert batch, "no incident events published"
            for records in batch.values():
                for r in records:
                    env = decode(r.value)
                    if env.type == "IncidentOpened":
                        assert r.key == str(env.data.incident_id).encode()  # type: ignore[attr-defined]
                        seen[env.data.incident_id] = env.data.incident  # type: ignore[attr-defined]
    finally:
        await consumer.stop()
    for inc in scenarios.values():
        assert seen[inc["id"]]["key"] == inc["key"]
        assert seen[inc["id"]]["status"] == "open"


async def test_no_token_is_401(shared_service: Any, scenarios: dict[str, Any]) -> None:
    async with shared_service.client(None) as c:
        assert (await c.get("/api/incidents")).status_code == 401
        r = await c.post(f"/api/incidents/{_id(scenarios)}/acknowledge", json={})
        assert r.status_code == 401 and "bearer" in r.json()["detail"].lower()


async def test_viewer_cannot_change_state(shared_service: Any, scenarios: dict[str, Any]) -> None:
    async with shared_service.client("viewer") as c:
        assert (await c.get(f"/api/incidents/{_id(scenarios)}")).status_code == 200
        r = await c.post(f"/api/incidents/{_id(scenarios)}/acknowledge", json={})
        assert r.status_code == 403 and "responder" in r.json()["detail"]


async def test_acknowledged_by_someone_else_is_403(
    shared_service: Any,
    scenarios: dict[str, Any],
    kit: Any,
) -> None:
    async with shared_service.client("ann") as c:
        r = await c.post(
            f"/api/incidents/{_id(scenarios)}/acknowledge",
            json={"acknowledged_by": kit.names["bob"]},
        )
        assert r.status_code == 403 and "acknowledged_by" in r.json()["detail"]


async def test_lifecycle_over_http_with_409s_that_say_what_is_allowed(
    shared_service: Any,
    scenarios: dict[str, Any],
    kit: Any,
) -> None:
    iid = scenarios["PLANNER_REG_v1.2.3-canary"]["id"]
    async with shared_service.client("ann") as c:
        r = await c.post(f"/api/incidents/{iid}/close", json={})
        assert r.status_code == 409
        assert "allowed from open: acknowledge, mitigate, resolve" in r.json()["detail"]
        r = await c.post(
            f"/api/incidents/{iid}/acknowledge",
            json={"acknowledged_by": kit.names["ann"], "notes": "Investigating"},
        )
        assert r.status_code == 200, r.text
        ack = r.json()
        assert (ack["status"], ack["acknowledged_by"], ack["version"]) == (
            "acknowledged",
            kit.names["ann"],
            2,
        )
        again = await c.post(f"/api/incidents/{iid}/acknowledge", json={})
        assert again.status_code == 200 and again.json()["version"] == 2  # a no-op
        stale = await c.post(f"/api/incidents/{iid}/mitigate", json={"notes": "x", "version": 1})
        assert stale.status_code == 409 and "version" in stale.json()["detail"]
        r = await c.post(
            f"/api/incidents/{iid}/severity", json={"severity": "sev2", "reason": "contained"}
        )
        assert r.json()["severity"] == "sev2"
        assert (
            await c.post(f"/api/incidents/{iid}/escalate", json={"reason": "no progress"})
        ).status_code == 200
        assert (await c.post(f"/api/incidents/{iid}/notes", json={"text": "hi"})).status_code == 200
        r = await c.post(f"/api/incidents/{iid}/mitigate", json={"notes": "rolled back"})
        assert r.json()["status"] == "mitigated"
        r = await c.post(f"/api/incidents/{iid}/resolve", json={"resolution": "nonsense"})
        assert r.status_code == 422
        assert (await c.post("/api/incidents/999999/resolve", json={})).status_code == 404


async def test_timeline_says_who_what_when_why(
    shared_service: Any,
    scenarios: dict[str, Any],
    kit: Any,
) -> None:
    iid = scenarios["INV_data_freshness_inbox"]["id"]
    async with shared_service.client("bob") as c:
        await c.post(f"/api/incidents/{iid}/escalate", json={"reason": "SME needed"})
        r = await c.get(f"/api/incidents/{iid}/events")
    events = r.json()["events"]
    assert [e["type"] for e in events] == ["IncidentOpened", "IncidentEscalated"]
    assert events[0]["why"] == "open.no_active_incident" and events[0]["by"] == "system"
    assert (events[1]["by"], events[1]["why"], events[1]["what"]) == (
        kit.names["bob"],
        "SME needed",
        "escalated",
    )
    assert [e["version"] for e in events] == [1, 2]


async def test_as_of_folds_only_events_recorded_up_to_that_instant(
    shared_service: Any,
    scenarios: dict[str, Any],
) -> None:
    iid = scenarios["BUDGET_inbox.triage_latency_p95"]["id"]
    async with shared_service.client("ann") as c:
        before = datetime.now(UTC)
        await c.post(f"/api/incidents/{iid}/acknowledge", json={})
        then = await c.get(f"/api/incidents/{iid}", params={"as_of": before.isoformat()})
        now = await c.get(f"/api/incidents/{iid}")
        gone = await c.get(
            f"/api/incidents/{iid}", params={"as_of": (before - timedelta(days=1)).isoformat()}
        )
    assert (then.json()["status"], then.json()["version"]) == ("open", 1)
    assert now.json()["status"] == "acknowledged"
    assert gone.status_code == 404


async def test_filters_and_cursor_pagination(
    shared_service: Any,
    scenarios: dict[str, Any],
) -> None:
    async with shared_service.client("viewer") as c:
        sev1 = (
            await c.get("/api/incidents", params={"severity": "sev1", "kind": "invariant"})
        ).json()["items"]
        assert [i["key"] for i in sev1] == ["INV_data_freshness_inbox"]
        team = (await c.get("/api/incidents", params={"team": "ml-platform"})).json()["items"]
        assert [i["kind"] for i in team] == ["planner"]
        pages, cursor = [], None
        while True:
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            body = (await c.get("/api/incidents", params=params)).json()
            pages += [i["id"] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        all_ids = [i["id"] for i in (await c.get("/api/incidents")).json()["items"]]
        assert pages == all_ids and all_ids == sorted(all_ids, reverse=True)
        bad = await c.get("/api/incidents", params={"status": "sleeping"})
        assert bad.status_code == 422 and "status" in bad.json()["detail"]


async def test_resolved_incident_closes_itself_after_the_verification_period(
    shared_service: Any,
    kit: Any,
    kafka_bootstrap: str,
) -> None:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await p.start()
    try:
        await kit.publish(
            p,
            shared_service.prefix,
            [kit.envelope(kit.latency("BUDGET_x_latency_p95"))],
            kit.by_key,
        )
    finally:
        await p.stop()
    iid = (await by_key(shared_service, "BUDGET_x_latency_p95"))[0]["id"]
    async with shared_service.client("ann") as c:
        assert (await c.post(f"/api/incidents/{iid}/resolve", json={})).status_code == 200

        async def closed() -> dict[str, Any] | None:
            inc = (await c.get(f"/api/incidents/{iid}")).json()
            return inc if inc["status"] == "closed" else None

        await shared_service.wait_for(closed, timeout=15)
        last = (await c.get(f"/api/incidents/{iid}/events")).json()["events"][-1]
    assert last["type"] == "IncidentClosed" and last["by"] == "system"
    assert last["data"]["reason"] == "verification_period" and "verification" in last["why"]


async def test_rebuild_cli_prints_the_same_hash_as_the_live_read_model(
    shared_service: Any,
    scenarios: dict[str, Any],
) -> None:
    """Runs after the lifecycle tests above have written to the log."""
    svc = shared_service
    iid = scenarios["INV_data_freshness_inbox"]["id"]
    async with svc.client("ann") as c:
        await c.post(f"/api/incidents/{iid}/resolve", json={"resolution": "false_positive"})
        await c.post(f"/api/incidents/{iid}/reopen", json={"notes": "back"})
    cli = Path(sys.executable).with_name("interventions")
    env = {**os.environ, "DATABASE_URL": svc.dsn}
    live = subprocess.run(
        [cli, "projections", "hash"], env=env, capture_output=True, text=True, timeout=60
    )
    rebuilt = subprocess.run(
        [cli, "projections", "rebuild"], env=env, capture_output=True, text=True, timeout=60
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    digest = live.stdout.split()[-1]
    assert len(digest) == 64 and rebuilt.stdout.split()[-1] == digest


def _id(scenarios: dict[str, Any]) -> int:
    return int(scenarios["BUDGET_inbox.triage_latency_p95"]["id"])


async def test_other_services_events_land_on_the_timeline_and_bad_records_go_to_the_dlq(
    shared_service: Any,
    scenarios: dict[str, Any],
    kafka_bootstrap: str,
) -> None:
    from interventions_events import Envelope, encode
    from interventions_events.actions import ActionFailed
    from interventions_events.issues import IssueLinked
    from interventions_events.notifications import EscalationTriggered

    iid = scenarios["PLANNER_REG_v1.2.3-canary"]["id"]
    now = datetime.now(UTC)
    facts = [
        ActionFailed(
            execution_id="x1",
            incident_id=iid,
            action_type="rollback_planner",
            actor="ann@example.com",
            at=now,
            error="deploy API 503",
        ),
        IssueLinked(
            incident_id=iid,
            provider="github",
            at=now,
            url="https://gh/o/r/issues/9",
            external_id="9",
        ),
        EscalationTriggered(incident_id=iid, at=now, level="secondary"),
    ]
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await p.start()
    try:
        prefix = shared_service.prefix
        await p.send_and_wait(topics.full(topics.DETECTIONS, prefix), b"{not json", key=b"k")
        for f in facts:
            env = Envelope(data=f, source="interventions/test")
            await p.send_and_wait(topics.full(f.topic, prefix), encode(env), key=str(iid).encode())
    finally:
        await p.stop()
    async with shared_service.client("viewer") as c:

        async def recorded() -> list[dict[str, Any]] | None:
            events = (await c.get(f"/api/incidents/{iid}/events")).json()["events"]
            kinds = {"ActionRecorded", "IssueLinkRecorded", "NotificationRecorded"}
            return events if kinds <= {e["type"] for e in events} else None

        events = await shared_service.wait_for(recorded)
        inc = (await c.get(f"/api/incidents/{iid}")).json()
    whats = [e["what"] for e in events]
    assert (
        "action rollback_planner failed" in whats and "notification escalated to secondary" in whats
    )
    assert inc["issue_url"] == "https://gh/o/r/issues/9"
    dlq = AIOKafkaConsumer(
        topics.full(topics.DLQ, shared_service.prefix),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await dlq.start()
    try:
        batch = await dlq.getmany(timeout_ms=10000)
        records = [r for rs in batch.values() for r in rs]
    finally:
        await dlq.stop()
    assert [r.value for r in records] == [b"{not json"]
    assert dict(records[0].headers)["dlq-consumer"] == b"incidents"


async def test_the_fast_list_answers_as_the_route_does(
    scenarios: dict[str, Any], shared_service: Any
) -> None:
    """`limit=02` is left to the FastAPI route (an unusual spelling), `limit=2` is answered by
    `FastList`: the same status, headers and bytes; refusals still come from the route."""
    async with shared_service.client("viewer") as c:
        fast = await c.get("/api/incidents", params={"limit": "2", "severity": ["sev1", "sev2"]})
        routed = await c.get("/api/incidents", params={"limit": "02", "severity": ["sev1", "sev2"]})
        refused = await c.get("/api/incidents", params={"limit": "0"})
    async with shared_service.client(None) as c:
        anonymous = await c.get("/api/incidents")
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content
    assert len(fast.json()["items"]) == 2 and fast.json()["next_cursor"]
    drop = {"date"}
    assert {k: v for k, v in fast.headers.items() if k not in drop} == {
        k: v for k, v in routed.headers.items() if k not in drop
    }
    assert refused.status_code == 422 and "limit" in refused.json()["detail"]
    assert anonymous.status_code == 401
