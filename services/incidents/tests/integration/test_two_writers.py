"""Two service instances (as two replicas would) deciding overlapping detections at once:
key-stream OCC serialises them; nothing is lost, doubled or opened twice. A batch starts from
the key states it remembers only where the stored versions still match (known.py): what the
other writer changed is read again."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest
from incidents import commands as c
from incidents.decisions import KeyState, Limits
from incidents.known import Known, KnownKeys
from incidents.readmodel import ReadModel, rebuild_read_model
from incidents.service import IncidentService
from incidents.settings import load_settings
from interventions_events import Envelope, Event
from interventions_events.detections import BudgetExceeded, SignalRecovered
from interventions_platform.kafka import Publisher
from prometheus_client import REGISTRY


def service(pool: asyncpg.Pool, max_per_window: int | None = None) -> IncidentService:
    pub = Publisher(cast(Any, None), "interventions/incidents", "t.")  # builds messages only
    settings = load_settings({})
    if max_per_window is not None:
        limits = Limits(timedelta(hours=1), max_per_window)
        settings = dataclasses.replace(settings, limits=limits)
    return IncidentService(pool, pub, settings)


async def assert_read_model_is_the_fold(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        live = await ReadModel("incidents").content_hash(conn)
    assert await rebuild_read_model(pool) == live


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
    await assert_read_model_is_the_fold(pool)


async def test_a_batch_mixing_seen_and_new_detections_decides_only_the_new_ones(
    pool: asyncpg.Pool,
) -> None:
    """A decision is stored under its detection's id: a batch holding ids decided before
    fails its append, is rolled back and decided again with only the new ones."""
    svc = service(pool)
    old = [detection("BUDGET_mix_latency_p95") for _ in range(3)]
    await svc.handle_detections(old)
    new = [detection("BUDGET_mix_latency_p95") for _ in range(2)]
    await svc.handle_detections([old[1], new[0], old[2], new[1], new[0]])
    row = await pool.fetchrow("SELECT occurrences, version FROM incidents.incidents")
    # opened + one occurrence event per batch (2 then 2 detections)
    assert (row["occurrences"], row["version"]) == (5, 3)
    decided = await pool.fetch(
        "SELECT event_id, data->>'detection_id' AS d FROM incidents.events "
        "WHERE stream_id LIKE 'key-%' ORDER BY global_position"
    )
    assert [r["d"] for r in decided] == [e.id for e in old + new]
    assert [r["event_id"] for r in decided] == [e.id for e in old + new]


async def test_resolved_incidents_close_after_the_verification_period(
    pool: asyncpg.Pool,
) -> None:
    clock = [datetime(2026, 11, 26, 21, 0, tzinfo=UTC)]
    svc = service(pool)
    svc.clock = lambda: clock[0]
    await svc.handle_detections([detection("K")])
    await svc.execute(c.Resolve(1, "ann"))
    clock[0] += timedelta(hours=23)
    assert await svc.close_verified() == 0
    clock[0] += timedelta(hours=2)
    assert await svc.close_verified() == 1
    assert await pool.fetchval("SELECT status FROM incidents.incidents WHERE id = 1") == "closed"


async def test_batches_written_in_steps_keep_streams_and_outbox_whole(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch writes its events and messages every FLUSH_EVERY decisions while deciding
    the next ones; with two replicas racing, a step that loses a stream rolls the whole
    batch back: every detection is decided once, versions stay contiguous, and every
    incident event has its one outbox row."""
    import incidents.service as service_module

    monkeypatch.setattr(service_module, "FLUSH_EVERY", 7)
    monkeypatch.setattr(service_module, "YIELD_EVERY", 2)
    keys = [f"BUDGET_s{k}_latency_p95" for k in range(5)]
    envs = [detection(k) for _ in range(40) for k in keys]
    a, b = service(pool), service(pool)
    batches = [envs[i : i + 50] for i in range(0, len(envs), 50)]
    await asyncio.gather(*(s.handle_detections(batch) for batch in batches for s in (a, b)))
    rows = await pool.fetch("SELECT key, occurrences FROM incidents.incidents ORDER BY key")
    assert [(r["key"], r["occurrences"]) for r in rows] == [(k, 40) for k in sorted(keys)]
    streams = await pool.fetch(
        "SELECT stream_id, count(*) AS n, min(stream_version) AS lo, max(stream_version) AS hi"
        " FROM incidents.events GROUP BY stream_id"
    )
    assert len(streams) == 10
    assert all(r["lo"] == 1 and r["hi"] == r["n"] for r in streams)
    decided = await pool.fetchval(
        "SELECT count(DISTINCT data->>'detection_id') FROM incidents.events"
        " WHERE stream_id LIKE 'key-%'"
    )
    assert decided == 200
    incident_events = await pool.fetchval(
        "SELECT count(*) FROM incidents.events WHERE stream_id LIKE 'incident-%'"
    )
    outbox = await pool.fetchrow(
        "SELECT count(*) AS n, min(position) AS lo, max(position) AS hi FROM incidents.outbox"
    )
    # per key: its opening, then one occurrence event per batch of 50 (10 detections each)
    assert incident_events == 25 and outbox["n"] == 25
    assert (outbox["lo"], outbox["hi"]) == (1, 25)
    counted = await pool.fetchval(
        "SELECT sum((data->>'count')::int) FROM incidents.events WHERE type = 'OccurrenceRecorded'"
    )
    assert counted == 195
    await assert_read_model_is_the_fold(pool)


async def test_a_batchs_occurrences_of_an_incident_are_one_event_in_stream_order(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Detections of keys A and B interleaved, with a recovery of A among them: each key's
    are decided together and in order, an incident's occurrences before and after its
    recovery are two events (not one moved past it), every detection has its own decision
    in arrival order on its key stream, and the read model (written step by step) equals
    the fold of the streams."""
    import incidents.service as service_module

    monkeypatch.setattr(service_module, "FLUSH_EVERY", 3)
    svc = service(pool)
    a, b = "BUDGET_occ_a_latency_p95", "BUDGET_occ_b_latency_p95"
    await svc.handle_detections([detection(a), detection(b)])
    recovered = Envelope(
        data=SignalRecovered(**detection(a).data.model_dump(exclude={"type"})),
        source="test",
        id=str(uuid.uuid4()),
    )
    batch = [detection(a), detection(b), detection(a), recovered, detection(b), detection(a)]
    batch += [detection(b) for _ in range(4)]
    await svc.handle_detections(batch)

    rows = await pool.fetch(
        "SELECT stream_id, type, (data->>'count')::int AS n, data->>'detection_id' AS d"
        " FROM incidents.events ORDER BY global_position"
    )
    on = {
        s: [(r["type"], r["n"]) for r in rows if r["stream_id"] == s]
        for s in ("incident-1", "incident-2")
    }
    assert on["incident-1"] == [
        ("IncidentOpened", None),
        ("OccurrenceRecorded", 2),
        ("SignalRecoveryObserved", None),
        ("OccurrenceRecorded", 1),
    ]
    assert on["incident-2"] == [("IncidentOpened", None), ("OccurrenceRecorded", 6)]
    latest_b = [r["d"] for r in rows if r["stream_id"] == "incident-2"][-1]
    assert latest_b == batch[-1].id  # the event names the latest detection it counts
    for key in (a, b):
        decided = [r["d"] for r in rows if r["stream_id"] == f"key-{key}"]
        assert decided[1:] == [e.id for e in batch if e.data.key == key]
    got = await pool.fetch("SELECT id, occurrences, version FROM incidents.incidents ORDER BY id")
    assert [tuple(r) for r in got] == [(1, 4, 4), (2, 7, 2)]
    await assert_read_model_is_the_fold(pool)


async def test_partial_read_model_writes_refuse_rows_that_are_not_stored(
    pool: asyncpg.Pool,
) -> None:
    """Occurrence counts and key versions are written as updates of stored rows; a row that
    is not there is a bug to report, not an update to skip."""
    from incidents.decisions import KeyState

    rm = ReadModel("incidents")
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="keys: updated 0 rows of 1"):
            await rm.save_key_versions(conn, [KeyState("not-stored", 3)])


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
