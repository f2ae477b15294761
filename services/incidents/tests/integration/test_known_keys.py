"""A detection batch starts from the key states and active incidents it remembers only where
PostgreSQL still holds the same versions: what another writer changed is read again."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
from incidents import commands as c
from incidents.decisions import KeyState, Limits
from incidents.known import Known, KnownKeys
from incidents.readmodel import ReadModel, rebuild_read_model
from incidents.service import IncidentService
from incidents.settings import load_settings
from interventions_events import Envelope, Event
from interventions_events.detections import BudgetExceeded
from interventions_platform.kafka import Publisher
from prometheus_client import REGISTRY


def service(pool: asyncpg.Pool, max_per_window: int = 3) -> IncidentService:
    pub = Publisher(cast(Any, None), "interventions/incidents", "t.")  # builds messages only
    settings = load_settings({})
    limits = Limits(timedelta(hours=1), max_per_window)
    return IncidentService(pool, pub, dataclasses.replace(settings, limits=limits))


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


def found() -> dict[str, float]:
    return {
        how: REGISTRY.get_sample_value("interventions_incident_keys_total", {"how": how}) or 0.0
        for how in ("remembered", "new", "read")
    }


def moved(before: dict[str, float]) -> dict[str, float]:
    after = found()
    return {how: after[how] - before[how] for how in after}


async def decisions(pool: asyncpg.Pool, key: str) -> list[tuple[str, int | None]]:
    rows = await pool.fetch(
        "SELECT data->>'decision' AS d, (data->>'incident_id')::int AS i FROM incidents.events "
        "WHERE stream_id = $1 ORDER BY stream_version",
        f"key-{key}",
    )
    return [(r["d"], r["i"]) for r in rows]


async def assert_read_model_is_the_fold(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        live = await ReadModel("incidents").content_hash(conn)
    assert await rebuild_read_model(pool) == live


async def test_keys_nobody_else_moved_are_not_read_again(pool: asyncpg.Pool) -> None:
    svc = service(pool)
    keys = [f"BUDGET_k{n}_latency_p95" for n in range(3)]
    before = found()
    await svc.handle_detections([detection(k) for k in keys])
    assert moved(before) == {"remembered": 0, "new": 3, "read": 0}
    before = found()
    await svc.handle_detections([detection(k) for k in keys for _ in range(2)])
    assert moved(before) == {"remembered": 3, "new": 0, "read": 0}
    rows = await pool.fetch("SELECT occurrences, version FROM incidents.incidents ORDER BY id")
    assert [(r["occurrences"], r["version"]) for r in rows] == [(3, 2)] * 3
    await assert_read_model_is_the_fold(pool)


async def test_an_incident_another_writer_acknowledged_is_read_again(
    pool: asyncpg.Pool,
) -> None:
    svc, api = service(pool), service(pool)
    await svc.handle_detections([detection("A"), detection("B")])
    await api.execute(c.Acknowledge(1, "ann"))
    before = found()
    await svc.handle_detections([detection("A"), detection("B")])
    assert moved(before) == {"remembered": 1, "new": 0, "read": 1}
    row = await pool.fetchrow(
        "SELECT status, occurrences, version FROM incidents.incidents WHERE id = 1"
    )
    assert (row["status"], row["occurrences"], row["version"]) == ("acknowledged", 2, 3)
    await assert_read_model_is_the_fold(pool)


async def test_an_incident_reopened_elsewhere_takes_the_next_detection(
    pool: asyncpg.Pool,
) -> None:
    """A reopen appends to the incident's stream only, so the key's version stays as this
    process left it; remembered whole, the key would still look free (and, its window
    full, the detection suppressed). The active incident's id and version are compared too."""
    svc, api = service(pool, max_per_window=1), service(pool)
    await svc.handle_detections([detection("K")])
    await api.execute(c.Resolve(1, "ann"))
    await svc.handle_detections([detection("K")])
    await api.execute(c.Reopen(1, "ann"))
    await svc.handle_detections([detection("K")])
    assert await decisions(pool, "K") == [("opened", 1), ("suppressed", None), ("deduplicated", 1)]
    assert await pool.fetchval("SELECT count(*) FROM incidents.incidents") == 1
    await assert_read_model_is_the_fold(pool)


async def test_a_batch_that_rolls_back_leaves_nothing_remembered(pool: asyncpg.Pool) -> None:
    """States are remembered after the commit: a batch that fails leaves the ones before."""
    svc = service(pool)
    await svc.handle_detections([detection("K")])
    held = svc.known._by_key["K"]
    await pool.execute(
        "CREATE FUNCTION incidents.refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused'; END $$; "
        "CREATE TRIGGER refuse BEFORE INSERT ON incidents.outbox "
        "FOR EACH ROW EXECUTE FUNCTION incidents.refuse()"
    )
    try:
        await svc.handle_detections([detection("K")])
    except asyncpg.RaiseError:
        pass
    else:
        raise AssertionError("the refused batch committed")
    assert svc.known._by_key["K"] is held
    assert held.state.version == 1 and held.active is not None and held.active.version == 1


def test_the_least_recently_decided_keys_are_forgotten_first() -> None:
    known = KnownKeys(capacity=2)
    a, b, c_ = (Known(KeyState(k), None) for k in "abc")
    known.remember({"a": a, "b": b})
    known.remember({"a": a})  # a decided again: b is now the oldest
    known.remember({"c": c_})
    assert list(known._by_key) == ["a", "c"]
    assert len(known) == 2
