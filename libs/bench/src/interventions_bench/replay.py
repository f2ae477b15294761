"""Reading the incident store back: raw rows, read + decode + fold, and the projection rebuilt
from zero, all over the events the incident service wrote in the decisions phase."""

from __future__ import annotations

import time

import asyncpg
from incidents.readmodel import rebuild_read_model
from incidents.replayfold import fold_store
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
    """Rows per second for asyncpg paging through `events` in order, JSON left as text."""
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
    """Events per second for read + decode + fold of every stream (one process): the incident
    service's replay fold (`incidents.replayfold`, proven equal to `evolve` / `evolve_key` over
    the pydantic events by its tests) decoding each event's JSON text with orjson."""
    started = time.perf_counter()
    async with pool.acquire() as conn:
        fold = await fold_store(conn, SCHEMA)
    incidents, _ = fold.incidents(), fold.keys()
    elapsed = time.perf_counter() - started
    if not incidents:
        raise RuntimeError("the replay found no incident streams")
    return fold.events / elapsed


async def rebuild(pool: asyncpg.Pool) -> float:
    """Events per second for the incident service's own read-model rebuild from zero."""
    total = await _count(pool)
    started = time.perf_counter()
    await rebuild_read_model(pool, SCHEMA)
    return total / (time.perf_counter() - started)
