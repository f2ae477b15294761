"""Inbox retention against real PostgreSQL: ids older than the retention go, in chunks; newer
ones stay and still stop a redelivery; a pruned id is new again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from interventions_eventstore import CORE, Inbox, create_pool, migrate, prune_inbox

SCHEMA = "inbox_prune_test"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url)
    await p.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    await migrate(p, SCHEMA, CORE)
    yield p
    await p.close()


async def claim(pool: asyncpg.Pool, inbox: Inbox, ids: list[str]) -> set[str]:
    async with pool.acquire() as conn, conn.transaction():
        return await inbox.claim(conn, ids)


async def test_prune_deletes_only_ids_older_than_the_retention(pool: asyncpg.Pool) -> None:
    notifier, playbooks = Inbox(SCHEMA, "notifier"), Inbox(SCHEMA, "playbooks")
    old = [str(uuid.uuid4()) for _ in range(25)]
    recent = [str(uuid.uuid4()) for _ in range(5)]
    assert await claim(pool, notifier, old[:20]) == set(old[:20])
    assert await claim(pool, playbooks, old[20:]) == set(old[20:])
    await pool.execute(
        f"UPDATE {SCHEMA}.inbox SET processed_at = now() - interval '8 days' "
        "WHERE event_id = ANY($1::text[])",
        old,
    )
    await claim(pool, notifier, recent)

    # every consumer's old ids, over three chunks of 10
    assert await prune_inbox(pool, SCHEMA, timedelta(days=7), chunk=10, pause_s=0) == 25
    left = await pool.fetch(f"SELECT consumer, event_id FROM {SCHEMA}.inbox")
    assert {(r["consumer"], r["event_id"]) for r in left} == {("notifier", i) for i in recent}
    # a recent id still stops its redelivery; a pruned one would be processed again
    assert await claim(pool, notifier, [*recent, old[0]]) == {old[0]}
    assert await prune_inbox(pool, SCHEMA, timedelta(days=7)) == 0


async def test_the_inbox_has_a_brin_index_on_processed_at(pool: asyncpg.Pool) -> None:
    indexdef = await pool.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2",
        SCHEMA,
        "inbox_processed_at",
    )
    assert indexdef is not None and "USING brin (processed_at)" in indexdef
