"""Outcome metrics over a scripted history (hand-computed), and self-alerts raised through the
platform's own pipeline: the incident service (and the watcher) as real processes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import yaml
from incidents import commands as c
from incidents.migrations import MIGRATIONS
from incidents.outcome_totals import summary_json
from incidents.outcomes import load_summary
from incidents.service import IncidentService
from incidents.settings import load_settings
from interventions_events import Envelope, Event
from interventions_events.detections import BudgetExceeded, InvariantViolated, PlannerRegressed
from interventions_eventstore import CORE, create_pool, migrate
from interventions_platform.embedded import free_port
from interventions_platform.kafka import Publisher
from interventions_testkit.processes import ServiceProcess

ADMIN = "outcomes-admin-token"


def start(module: str, tmp: Path, env: dict[str, str], settings: dict[str, Any]) -> ServiceProcess:
    port = free_port()
    config = tmp / f"{module}.yaml"
    config.write_text(yaml.safe_dump({"interventions": settings}))
    full = {**env, "INTERVENTIONS_CONFIG": str(config), "INTERVENTIONS_SERVICE_PORT": str(port)}
    proc = ServiceProcess(module, full, port=port, log_dir=tmp).start()
    proc.wait_ready(60)
    return proc


@pytest.fixture
def base_env(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "INTERVENTIONS_ADMIN_TOKEN": ADMIN,
    }


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def budget(agent: str, at: datetime) -> BudgetExceeded:
    return BudgetExceeded(
        kind="budget",
        key=f"BUDGET_{agent}_latency_p95",
        subject=agent,
        observed_at=at,
        source_event_id="s",
        hint="error",
        evidence={
            "violation": {"budget_type": "latency_p95", "threshold": 1, "actual": 2},
            "agent": agent,
        },
    )


def freshness(at: datetime) -> InvariantViolated:
    return InvariantViolated(
        kind="invariant",
        key="INV_fresh",
        subject="inbox.triage",
        observed_at=at,
        source_event_id="r",
        hint="critical",
        evidence={"invariant": {"id": "fresh", "name": "Freshness"}, "agent": "inbox.triage"},
    )


def planner(at: datetime) -> PlannerRegressed:
    return PlannerRegressed(
        kind="planner",
        key="PLANNER_REG_v2",
        subject="v2",
        observed_at=at,
        source_event_id="c",
        evidence={"regression": {"metric": "accuracy"}, "version": "v2"},
    )


async def script_history(dsn: str, now: datetime) -> dict[str, int]:
    """Four incidents in the window and one 8 days old; see the hand computation below."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    await migrate(pool, "incidents", CORE)
    await migrate(pool, "incidents", MIGRATIONS, component="incidents")
    clock = Clock(now)
    settings = load_settings({"incidents": {"max_incidents_per_window": 1}})
    svc = IncidentService(pool, Publisher(cast(Any, None), "t", "t."), settings, clock=clock)
    base = now - timedelta(hours=2)
    ids: dict[str, int] = {}

    async def at(minutes: float) -> None:
        clock.now = base + timedelta(minutes=minutes)

    async def detect(name: str | None, data: Event, minutes: float) -> None:
        await at(minutes)
        env: Envelope[Event] = Envelope(data=data, source="interventions/watcher")
        await svc.handle_detections([env])
        if name:
            ids[name] = int(await pool.fetchval("SELECT max(id) FROM incidents.incidents"))

    async def do(cmd: c.Command, minutes: float) -> None:
        await at(minutes)
        await svc.execute(cmd)

    async def action(iid: str, ex: str, step: str, minutes: float) -> None:
        await at(minutes)
        cmd = c.RecordAction(ids[iid], ex, "rerun_eval", step, "ann")
        await svc.record_external([(str(uuid.uuid4()), cmd)], (), "script")

    clock.now = now - timedelta(days=8)
    env: Envelope[Event] = Envelope(data=budget("old.agent", clock.now), source="w")
    await svc.handle_detections([env])
    await detect("i1", freshness(base), 0)
    await detect(None, freshness(base), 1)  # deduplicated into i1
    await do(c.Acknowledge(ids["i1"], "ann"), 3)
    await detect("i2", budget("inbox.triage", base), 10)
    await detect("i3", budget("knowledge.search", base), 20)
    await do(c.Mitigate(ids["i1"], "ann"), 20)
    await do(c.Acknowledge(ids["i3"], "ann"), 25)
    await detect("i4", planner(base), 30)
    await do(c.Acknowledge(ids["i2"], "ann"), 40)
    await do(c.Resolve(ids["i1"], "ann"), 40)
    await action("i1", "ex-1", "succeeded", 41)
    await action("i2", "ex-2", "failed", 42)
    await action("i2", "ex-3", "succeeded", 43)
    await action("i3", "ex-4", "started", 44)
    await do(c.Resolve(ids["i2"], "ann", resolution="false_positive"), 60)
    await detect(None, budget("inbox.triage", base), 65)  # suppressed: limit 1 per hour
    await pool.close()
    return ids


async def test_metrics_summary_equals_the_hand_computed_values(
    base_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    await script_history(database_url, datetime.now(UTC))
    # self-alerts off: i4 (a late sev1) would otherwise open a platform incident
    proc = start("incidents", tmp_path, base_env, {"self_alerts": {"enabled": False}})
    try:
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
            headers = {"Authorization": f"Bearer {ADMIN}"}
            r = await http.get("/api/metrics/summary", params={"since": "7d"}, headers=headers)
            assert r.status_code == 200, r.text
            s = r.json()
            bad = await http.get("/api/metrics/summary?since=soon", headers=headers)
            anonymous = await http.get("/api/metrics/summary")
            prom = (await http.get("/metrics")).text
    finally:
        proc.stop()
    inc = s["incidents"]
    assert (inc["opened"], inc["by_severity"], inc["acknowledged"], inc["resolved"]) == (
        4,
        {"sev1": 2, "sev2": 2},
        3,
        2,
    )
    assert s["mtta_seconds"] == (3 * 60 + 30 * 60 + 5 * 60) / 3  # i1 3m, i2 30m, i3 5m
    assert s["mttr_seconds"] == (40 * 60 + 50 * 60) / 2  # i1 40m, i2 50m
    assert (s["false_positives"], s["false_positive_rate"]) == (1, 0.5)
    assert s["playbooks"] == {"executions": 3, "succeeded": 2, "failed": 1, "success_rate": 0.6667}
    assert s["detections"] == {
        "opened": 4,
        "deduplicated": 1,
        "suppressed": 1,
        "recovered": 0,
        "ignored": 0,
    }
    sev1, sev2 = s["sla"]["sev1"], s["sla"]["sev2"]
    # i1 met every target; i4 (planner accuracy, sev1) was never acknowledged
    assert (sev1["incidents"], sev1["compliant"], sev1["compliance"]) == (2, 1, 0.5)
    assert sev1["breaches"] == {"acknowledge": 1, "mitigate": 1, "resolve": 0}
    # i2 was acknowledged after 30m (target 15m); i3 is within its targets so far
    assert (sev2["incidents"], sev2["compliant"], sev2["compliance"]) == (2, 1, 0.5)
    assert sev2["breaches"] == {"acknowledge": 1, "mitigate": 0, "resolve": 0}
    assert bad.status_code == 422 and "duration" in bad.json()["detail"]
    assert anonymous.status_code == 401
    assert 'interventions_incidents_opened_total{severity="sev1"} 2.0' in prom
    assert 'interventions_incidents_opened_total{severity="sev2"} 3.0' in prom


async def test_the_sql_summary_equals_the_folded_summary(database_url: str) -> None:
    now = datetime.now(UTC)
    await script_history(database_url, now)
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            for since, until in (
                (now - timedelta(days=7), now),
                (now - timedelta(days=9), now + timedelta(days=2)),  # pending targets now late
                (now - timedelta(minutes=100), now - timedelta(minutes=30)),
            ):
                folded = (await load_summary(conn, "incidents", since, until)).to_json()
                assert await summary_json(conn, "incidents", since, until) == folded
    finally:
        await pool.close()


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for p in started:
        p.stop()


async def incidents_of(url: str, kind: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        r = await http.get(
            "/api/incidents", params={"kind": kind}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert r.status_code == 200, r.text
        return list(r.json()["items"])


async def heartbeats_seen(dsn: str, at_least: int) -> int:
    """Wait until the sentinel has counted `at_least` heartbeats; returns the count."""
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        deadline = time.monotonic() + 30
        while True:
            n = await pool.fetchval(
                "SELECT count FROM incidents.sentinel_marks WHERE name = 'heartbeat'"
            )
            if n is not None and n >= at_least:
                return int(n)
            assert time.monotonic() < deadline, "the sentinel never saw a heartbeat"
            await asyncio.sleep(0.2)
    finally:
        await pool.close()


async def test_a_silent_watcher_opens_a_platform_incident(
    base_env: dict[str, str], tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    watcher = start("watcher", tmp_path, base_env, {"watcher": {"interval": "500ms"}})
    processes.append(watcher)
    # the timeout leaves room for the sentinel's consumer group to join the broker
    alerts = {"enabled": True, "check_interval": "200ms", "heartbeat_timeout": "10s"}
    incidents = start("incidents", tmp_path, base_env, {"self_alerts": alerts})
    processes.append(incidents)
    beats = await heartbeats_seen(base_env["DATABASE_URL"], at_least=3)
    assert await incidents_of(incidents.url, "platform") == []  # the watcher is alive
    watcher.stop()
    stopped = time.monotonic()
    deadline = time.monotonic() + 30
    while not (found := await incidents_of(incidents.url, "platform")):
        assert time.monotonic() < deadline, incidents.logs()
        await asyncio.sleep(0.2)
    assert time.monotonic() - stopped >= 9, "alerted before the timeout"
    assert beats >= 3
    assert [i["key"] for i in found] == ["PLATFORM_watcher_heartbeat_missing"]
    assert (found[0]["severity"], found[0]["owner_team"]) == ("sev1", "platform")
    assert "no watcher heartbeat since" in found[0]["summary"]
