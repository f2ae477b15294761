"""Pool releases skip asyncpg's session reset (a round trip each) unless the connection was
marked with `keeps_session`; a marked one has its session advisory locks dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from interventions_eventstore import create_pool, keeps_session


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, min_size=1, max_size=1)
    yield p
    await p.close()


async def test_a_plain_release_sends_no_reset_query(pool: asyncpg.Pool) -> None:
    sent: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda q: sent.append(q.query))
        await conn.fetchval("SELECT 1")
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 2")
    assert sent == ["SELECT 1", "SELECT 2"]  # the logger stays; no reset query between


async def test_a_marked_connection_loses_its_advisory_lock_on_release(
    pool: asyncpg.Pool, database_url: str
) -> None:
    async with pool.acquire() as conn:
        keeps_session(conn)
        assert await conn.fetchval("SELECT pg_try_advisory_lock(4242)")
    other = await asyncpg.connect(database_url)
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock(4242)")
    finally:
        await other.close()
    async with pool.acquire() as conn:  # the mark does not outlive the release
        assert await conn.fetchval("SELECT pg_try_advisory_lock(4243)")
    async with pool.acquire() as conn:
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert held == 1  # 4243 stays with the (unmarked) session
        keeps_session(conn)


async def test_an_open_transaction_is_still_rolled_back_on_release(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE IF NOT EXISTS t (x int)")
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO t VALUES (1)")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM t") == 0
