"""The replay fold over a store the service itself wrote (detections from several keys, a
random walk of lifecycle commands, recoveries), read back with `scan_raw`: equal to the domain
fold of the same rows, to the live read model, and the rebuild keeps the live hash."""

from __future__ import annotations

import contextlib
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest
from incidents import commands as c
from incidents.decisions import KeyState, evolve_key
from incidents.domain import DomainError, Incident, evolve, parse_event
from incidents.readmodel import ReadModel, from_row, rebuild_read_model
from incidents.replayfold import fold_store
from incidents.service import IncidentService
from incidents.settings import load_settings
from interventions_events import Envelope, Event
from interventions_events.detections import BudgetExceeded, SignalRecovered
from interventions_events.incidents import DetectionDecided
from interventions_eventstore import scan_raw
from interventions_platform.kafka import Publisher

T0 = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)


def detection(key: str, at: datetime, recovered: bool = False) -> Envelope[Event]:
    cls = SignalRecovered if recovered else BudgetExceeded
    data = cls(
        kind="budget",
        key=key,
        subject="inbox.triage",
        observed_at=at,
        source_event_id="s",
        evidence={"violation": {"budget_type": "latency_p95"}},
    )
    return Envelope(data=data, source="test", id=str(uuid.uuid4()))


async def written_store(pool: asyncpg.Pool, seed: int) -> None:
    rnd = random.Random(seed)
    pub = Publisher(cast(Any, None), "interventions/incidents", "t.")  # builds messages only
    svc = IncidentService(pool, pub, load_settings({}))
    clock = [T0]
    svc.clock = lambda: clock[0]
    keys = [f"BUDGET_k{k}_latency_p95" for k in range(4)]
    lifecycle: list[Any] = [
        lambda i: c.Acknowledge(i, rnd.choice(["ann", "bob"])),
        lambda i: c.Mitigate(i, "ann"),
        lambda i: c.Resolve(i, "bob", resolution=rnd.choice(["fixed", "duplicate"])),
        lambda i: c.Close(i, "ann"),
        lambda i: c.Reopen(i, "bob"),
        lambda i: c.ChangeSeverity(i, "ann", rnd.choice(["sev1", "sev3"]), "r"),
        lambda i: c.AddNote(i, "ann", "looking"),
        lambda i: c.LinkIssue(i, "github", f"https://issues/{rnd.randint(1, 3)}"),
    ]
    for _ in range(120):
        clock[0] += timedelta(seconds=rnd.randint(1, 900))
        if rnd.random() < 0.6:
            batch = [detection(rnd.choice(keys), clock[0], rnd.random() < 0.15) for _ in range(3)]
            await svc.handle_detections(batch)
            continue
        ids = [r["id"] for r in await pool.fetch("SELECT id FROM incidents.incidents")]
        if ids:
            with contextlib.suppress(DomainError):
                await svc.execute(rnd.choice(lifecycle)(rnd.choice(ids)))


async def domain_fold(pool: asyncpg.Pool) -> tuple[dict[str, Incident], dict[str, KeyState]]:
    incidents: dict[str, Incident] = {}
    keys: dict[str, KeyState] = {}
    rows = await pool.fetch(
        "SELECT stream_id, type, data FROM incidents.events ORDER BY global_position"
    )
    for r in rows:
        sid = r["stream_id"]
        if sid.startswith("incident-"):
            incidents[sid] = evolve(incidents.get(sid), parse_event(r["type"], r["data"]))
        else:
            decided = DetectionDecided.model_validate(r["data"])
            keys[sid] = evolve_key(keys.get(sid) or KeyState(decided.key), decided)
    return incidents, keys


@pytest.mark.parametrize("seed", [1, 2])
async def test_replay_fold_of_a_written_store_equals_domain_fold_and_read_model(
    pool: asyncpg.Pool, seed: int
) -> None:
    await written_store(pool, seed)
    incidents, keys = await domain_fold(pool)
    assert len(incidents) >= 3 and len(keys) == 4
    statuses = {i.status for i in incidents.values()}
    assert len(statuses) >= 2, statuses  # the walk went beyond opening
    async with pool.acquire() as conn:
        fold = await fold_store(conn, "incidents", page=7)  # many pages, each one read ahead
        live_hash = await ReadModel("incidents").content_hash(conn)
    assert fold.events == await pool.fetchval("SELECT count(*) FROM incidents.events")
    replayed = fold.incidents()
    assert replayed == incidents and fold.keys() == keys
    rows = await pool.fetch("SELECT * FROM incidents.incidents")
    live = {f"incident-{r['id']}": from_row(r) for r in rows}
    assert replayed == live
    assert {s: i.last_transition for s, i in replayed.items()} == {
        s: i.last_transition for s, i in live.items()
    }
    assert await rebuild_read_model(pool) == live_hash


async def test_scan_stopped_early_leaves_the_connection_usable(pool: asyncpg.Pool) -> None:
    await written_store(pool, 3)
    total = await pool.fetchval("SELECT count(*) FROM incidents.events")
    async with pool.acquire() as conn, conn.transaction():
        seen: list[int] = []
        async with contextlib.aclosing(scan_raw(conn, "incidents", page=5)) as pages:
            async for rows in pages:
                seen += [r[0] for r in rows]
                if len(seen) >= 10:
                    break  # the next page is already requested
        assert seen == list(range(1, 11))
        assert await conn.fetchval("SELECT count(*) FROM incidents.events") == total
        after = [r[0] async for page in scan_raw(conn, "incidents", after=total - 3) for r in page]
        assert after == [total - 2, total - 1, total]
