"""Reading the incident store back: raw rows, read + decode + fold, and the projection rebuilt
from zero, all over the events the incident service wrote in the decisions phase."""

from __future__ import annotations

import time

import asyncpg
from incidents.decisions import KeyState, evolve_key
from incidents.domain import Incident, evolve, parse_event
from incidents.readmodel import rebuild_read_model
from interventions_events.incidents import DetectionDecided
from interventions_eventstore import create_pool

SCHEMA = "incidents"
PAGE = 5000
Results = dict[str, float]


async def replay_phase(dsn: str) -> Results:
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        return {
            "raw_read_rows_per_s": await raw_read(dsn),
            "replay_events_per_s": await replay(pool),
            "projection_rebuild_events_per_s": await rebuild(pool),
        }
    finally:
        await pool.close()


async def _count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.events"))


async def raw_read(dsn: str) -> float:
    """Rows per second for asyncpg paging through `events` in order, jsonb left as text."""
    conn = await asyncpg.connect(dsn)
    try:
        after, seen, started = 0, 0, time.perf_counter()
        while True:
            rows = await conn.fetch(
                f"SELECT global_position, stream_id, type, data::text AS data FROM {SCHEMA}.events "
                "WHERE global_position > $1 ORDER BY global_position LIMIT $2",
                after,
                PAGE,
            )
            if not rows:
                return seen / (time.perf_counter() - started)
            after, seen = rows[-1]["global_position"], seen + len(rows)
    finally:
        await conn.close()


async def replay(pool: asyncpg.Pool) -> float:
    """Events per second for read + decode + fold of every stream (one process)."""
    incidents: dict[str, Incident] = {}
    keys: dict[str, KeyState] = {}
    after, seen, started = 0, 0, time.perf_counter()
    while True:
        rows = await pool.fetch(
            f"SELECT global_position, stream_id, type, data FROM {SCHEMA}.events "
            "WHERE global_position > $1 ORDER BY global_position LIMIT $2",
            after,
            PAGE,
        )
        if not rows:
            break
        for r in rows:
            sid = r["stream_id"]
            if sid.startswith("incident-"):
                incidents[sid] = evolve(incidents.get(sid), parse_event(r["type"], r["data"]))
            else:
                decided = DetectionDecided.model_validate(r["data"])
                keys[sid] = evolve_key(keys.get(sid) or KeyState(decided.key), decided)
        after, seen = rows[-1]["global_position"], seen + len(rows)
    elapsed = time.perf_counter() - started
    if not incidents:
        raise RuntimeError("the replay found no incident streams")
    return seen / elapsed


async def rebuild(pool: asyncpg.Pool) -> float:
    """Events per second for the incident service's own read-model rebuild from zero."""
    total = await _count(pool)
    started = time.perf_counter()
    await rebuild_read_model(pool, SCHEMA)
    return total / (time.perf_counter() - started)
