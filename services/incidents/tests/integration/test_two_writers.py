"""Two service instances (as two replicas would) deciding overlapping detections at once:
key-stream OCC serialises them; nothing is lost, doubled or opened twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest
from incidents.migrations import MIGRATIONS
from incidents.readmodel import ReadModel, rebuild_read_model
from incidents.service import IncidentService
from incidents.settings import load_settings
from interventions_events import Envelope, Event
from interventions_events.detections import BudgetExceeded
from interventions_eventstore import CORE, create_pool, migrate
from interventions_platform.kafka import Publisher


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, max_size=10)
    await migrate(p, "incidents", CORE)
    await migrate(p, "incidents", MIGRATIONS, component="incidents")
    yield p
    await p.close()


def service(pool: asyncpg.Pool) -> IncidentService:
    pub = Publisher(cast(Any, None), "interventions/incidents", "t.")  # builds messages only
    return IncidentService(pool, pub, load_settings({}))


def detection(key: str) -> Envelope[Event]:
    data = BudgetExceeded(
        kind="budget",
        key=key,
        subject="inbox.triage",
        observed_at=datetime.now(UTC),
        source_event_id="s",
        evidence={"violation": {"budget_type": "latency_p95"}},
    )
    return Envelope(data=data, source="test", id=str(uuid.uuid4()))


async def test_two_replicas_on_the_same_keys_open_one_incident_per_key(
    pool: asyncpg.Pool,
) -> None:
    keys = [f"BUDGET_a{k}_latency_p95" for k in range(5)]
    envs = [detection(k) for _ in range(40) for k in keys]
    a, b = service(pool), service(pool)
    batches = [envs[i : i + 20] for i in range(0, len(envs), 20)]
    # both replicas get every batch (a rebalance redelivers): the inbox must absorb it
    await asyncio.gather(*(s.handle_detections(batch) for batch in batches for s in (a, b)))
    rows = await pool.fetch("SELECT key, occurrences FROM incidents.incidents ORDER BY key")
    assert [(r["key"], r["occurrences"]) for r in rows] == [(k, 40) for k in sorted(keys)]
    decided = await pool.fetchval(
        "SELECT count(*) FROM incidents.events WHERE stream_id LIKE 'key-%'"
    )
    assert decided == 200
    async with pool.acquire() as conn:
        live = await ReadModel("incidents").content_hash(conn)
    assert await rebuild_read_model(pool) == live


async def test_resolved_incidents_close_after_the_verification_period(
    pool: asyncpg.Pool,
) -> None:
    clock = [datetime(2026, 11, 26, 21, 0, tzinfo=UTC)]
    svc = service(pool)
    svc.clock = lambda: clock[0]
    await svc.handle_detections([detection("K")])
    from incidents import commands as c

    await svc.execute(c.Resolve(1, "ann"))
    clock[0] += timedelta(hours=23)
    assert await svc.close_verified() == 0
    clock[0] += timedelta(hours=2)
    assert await svc.close_verified() == 1
    assert await pool.fetchval("SELECT status FROM incidents.incidents WHERE id = 1") == "closed"
