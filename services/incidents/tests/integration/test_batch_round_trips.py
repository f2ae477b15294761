"""A batch of detections on keys with nothing stored is written in few round trips, against
the real PostgreSQL: the incident ids are drawn by the key read, and the events and their
outbox rows go in one statement."""

from __future__ import annotations

import asyncpg
from asyncpg.connection import LoggedQuery
from interventions_eventstore import create_pool

from .test_two_writers import assert_read_model_is_the_fold, detection, service


async def test_new_keys_open_in_six_statements_with_ascending_ids(
    pool: asyncpg.Pool, database_url: str
) -> None:
    one = await create_pool(database_url, min_size=1, max_size=1)  # `pool` migrated it
    statements: list[str] = []

    def log(query: LoggedQuery) -> None:
        statements.append(" ".join(query.query.split())[:60])

    try:
        svc = service(one)
        await svc.handle_detections([detection("BUDGET_warm_latency_p95")])
        async with one.acquire() as conn:
            conn.add_query_logger(log)
        keys = [f"BUDGET_rt{k}_latency_p95" for k in range(5)]
        await svc.handle_detections([detection(k) for k in keys])
    finally:
        await one.close()
    # BEGIN, the key read (which draws the ids), the events with their outbox rows, the
    # incident rows, the key rows, COMMIT (8 before: the id draw and the outbox rows were
    # statements of their own)
    assert len(statements) == 6, statements
    assert not any("nextval" in s and "generate_series" in s for s in statements)
    rows = await pool.fetch(
        "SELECT id, key FROM incidents.incidents WHERE key = ANY($1) ORDER BY id", keys
    )
    assert [r["key"] for r in rows] == keys  # decided in order, ids ascending
    outbox = await pool.fetchval(
        "SELECT count(*) FROM incidents.outbox WHERE convert_from(key, 'UTF8') = ANY($1)",
        [str(r["id"]) for r in rows],
    )
    assert outbox == 5
    await assert_read_model_is_the_fold(pool)
