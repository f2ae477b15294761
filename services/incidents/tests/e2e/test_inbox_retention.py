"""Inbox retention in a running service: with `inbox.retention` and `inbox.prune_every` set,
the process deletes ids older than the retention and keeps the rest (real PostgreSQL, the
service as its own process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import httpx


async def test_the_service_prunes_inbox_ids_past_the_retention(
    service_factory: Callable[..., Any], database_url: str
) -> None:
    svc = service_factory(extra="  inbox: {retention: 1h, prune_every: 1s}\n")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO incidents.inbox (consumer, event_id, processed_at) VALUES "
            "('incidents-external', 'old-1', now() - interval '2 hours'), "
            "('incidents-external', 'old-2', now() - interval '61 minutes'), "
            "('incidents-external', 'recent-1', now() - interval '59 minutes')"
        )

        async def gone() -> bool:
            left = await conn.fetchval(
                "SELECT count(*) FROM incidents.inbox WHERE event_id LIKE 'old-%'"
            )
            return left == 0

        await svc.wait_for(gone, timeout=30)
        kept = await conn.fetch("SELECT event_id FROM incidents.inbox")
        assert [r["event_id"] for r in kept] == ["recent-1"]
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=svc.proc.url) as c:
        text = (await c.get("/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("interventions_inbox_pruned_total{"))
    assert 'schema="incidents"' in line and float(line.split()[-1]) == 2.0
