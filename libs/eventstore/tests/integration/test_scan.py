"""`scan_raw`: the whole log in global order, data as JSON text, across page boundaries."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest
from interventions_eventstore import CORE, EventStore, NewEvent, create_pool, migrate, scan_raw

SCHEMA = "scan_test"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, max_size=4)
    await migrate(p, SCHEMA, CORE)
    yield p
    await p.close()


async def test_pages_cover_every_event_in_order_with_data_as_text(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, SCHEMA)
    for n in range(23):
        data = {"n": n, "s": 'quote " tab \t é'}
        await store.append(f"s-{n % 4}", [NewEvent("E", data, str(uuid.uuid4()))], n // 4)
    async with pool.acquire() as conn:
        pages = [list(p) async for p in scan_raw(conn, SCHEMA, page=5)]
        assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
        rows = [r for p in pages for r in p]
        assert [r[0] for r in rows] == list(range(1, 24))
        assert [(r[1], r[2]) for r in rows] == [(f"s-{n % 4}", "E") for n in range(23)]
        assert [orjson.loads(r[3]) for r in rows] == [
            {"n": n, "s": 'quote " tab \t é'} for n in range(23)
        ]
        tail = [r[0] async for p in scan_raw(conn, SCHEMA, after=20, page=2) for r in p]
        assert tail == [21, 22, 23]


async def test_closing_early_waits_for_the_page_already_requested(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, SCHEMA)
    await store.append("s", [NewEvent("E", {"n": n}, str(uuid.uuid4())) for n in range(9)], 0)
    async with pool.acquire() as conn, conn.transaction():
        async with contextlib.aclosing(scan_raw(conn, SCHEMA, page=2)) as pages:
            async for _ in pages:
                break
        assert await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.events") == 9
