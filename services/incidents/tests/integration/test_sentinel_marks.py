"""Sentinel marks in PostgreSQL: dead letters count from when they were written, so a new
consumer group reading an old DLQ from the start raises no alert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from incidents.migrations import MIGRATIONS
from incidents.sentinel import MIGRATIONS as MARKS
from incidents.sentinel import SelfAlertSettings, check, gather, note
from interventions_eventstore import CORE, create_pool, migrate


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, max_size=4)
    await migrate(p, "incidents", CORE)
    await migrate(p, "incidents", MIGRATIONS, component="incidents")
    await migrate(p, "incidents", MARKS, component="incidents-sentinel")
    yield p
    await p.close()


async def alerts(pool: asyncpg.Pool, now: datetime) -> list[str]:
    s = SelfAlertSettings()
    async with pool.acquire() as conn:
        return [a.key for a in check(await gather(conn, "incidents", s, now, now), s)]


async def test_old_dead_letters_read_late_raise_no_alert_but_new_ones_do(
    pool: asyncpg.Pool,
) -> None:
    now = datetime.now(UTC)
    await note(pool, "incidents", 0, 4, now - timedelta(days=3))
    assert await alerts(pool, now) == []
    await note(pool, "incidents", 0, 1, now - timedelta(seconds=5))
    assert await alerts(pool, now) == ["PLATFORM_dead_letters"]
    # an older batch arriving afterwards does not move the mark back
    await note(pool, "incidents", 0, 1, now - timedelta(days=4))
    row = await pool.fetchrow("SELECT at, count FROM incidents.sentinel_marks WHERE name = 'dlq'")
    assert (row["count"], row["at"] > now - timedelta(minutes=1)) == (6, True)


async def test_a_heartbeat_is_marked_at_receive_time(pool: asyncpg.Pool) -> None:
    await note(pool, "incidents", 2, 0)
    at = await pool.fetchval("SELECT at FROM incidents.sentinel_marks WHERE name = 'heartbeat'")
    assert datetime.now(UTC) - at < timedelta(minutes=1)
