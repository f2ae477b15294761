"""Concurrent commands, a SIGKILL mid-stream, and rebuilding the read model from the log."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from incidents.readmodel import ReadModel, rebuild_read_model
from interventions_eventstore import create_pool

KEY = "INV_data_freshness_inbox"


async def stream_versions(dsn: str, stream: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT stream_version FROM incidents.events "
            "WHERE stream_id = $1 ORDER BY global_position",
            stream,
        )
    finally:
        await conn.close()
    return [r["stream_version"] for r in rows]


async def test_fifty_concurrent_acknowledge_and_resolve_one_wins_per_transition(
    service_factory: Callable[..., Any],
    producer: AIOKafkaProducer,
    kit: Any,
) -> None:
    svc = service_factory()
    await kit.publish(producer, svc.prefix, [kit.envelope(kit.freshness())], kit.by_key)
    iid = (await svc.wait_for(lambda: svc.incidents(key=KEY)))[0]["id"]
    ann, bob = svc.client("ann"), svc.client("bob")

    async def storm(path: str, version: int) -> Counter[int]:
        calls = [
            (ann if i % 2 else bob).post(f"/api/incidents/{iid}/{path}", json={"version": version})
            for i in range(50)
        ]
        return Counter(r.status_code for r in await asyncio.gather(*calls))

    async with ann, bob:
        assert await storm("acknowledge", 1) == Counter({200: 1, 409: 49})
        assert await storm("resolve", 2) == Counter({200: 1, 409: 49})
        final = (await ann.get(f"/api/incidents/{iid}")).json()
    assert (final["status"], final["version"]) == ("resolved", 3)
    assert await stream_versions(svc.dsn, f"incident-{iid}") == [1, 2, 3]


async def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(
    service_factory: Callable[..., Any],
    producer: AIOKafkaProducer,
    kit: Any,
) -> None:
    svc = service_factory()
    keys = [f"BUDGET_agent{k}.x_latency_p95" for k in range(20)]
    envs = [kit.envelope(kit.latency(k)) for _ in range(25) for k in keys]  # 500 detections
    await kit.publish(producer, svc.prefix, envs[:250], kit.by_key)
    await svc.wait_for(lambda: svc.incidents(), timeout=30)  # some work has landed
    svc.proc.kill()
    await kit.publish(producer, svc.prefix, envs[250:], kit.by_key)
    await kit.publish(producer, svc.prefix, envs[:100], kit.by_key)  # redelivered ids
    svc.restart()

    async def settled() -> list[dict[str, Any]] | None:
        items = await svc.incidents()
        return items if sum(i["occurrences"] for i in items) == 500 else None

    items = await svc.wait_for(settled, timeout=60)
    assert sorted(i["key"] for i in items) == sorted(keys)  # one incident per key
    assert all(i["occurrences"] == 25 for i in items)
    pool = await create_pool(svc.dsn)
    try:
        decided = await pool.fetchval(
            "SELECT count(*) FROM incidents.events WHERE stream_id LIKE 'key-%'"
        )
        assert decided == 500
        async with pool.acquire() as conn:
            live = await ReadModel("incidents").content_hash(conn)
        assert await rebuild_read_model(pool) == live
    finally:
        await pool.close()
