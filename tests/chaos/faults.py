"""Fault schedules shared by the CI subset and the full suite."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
from interventions_testkit.chaos import Stack


async def kill_and_restart(stack: Stack, names: list[str], delay: float) -> None:
    """SIGKILL each service after `delay` seconds of load, then start it again."""
    for name in names:
        await asyncio.sleep(delay)
        stack.kill(name)
        await stack.restart(name)


WAITING_ON = """
SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT l.granted AND n.nspname = $1 AND c.relname = $2
"""
BETWEEN = "between publish and mark"


async def kill_between_publish_and_mark(
    stack: Stack, name: str = "incidents", limit_s: float = 15
) -> bool:
    """SIGKILL `name`'s outbox relay after the broker acknowledged a batch and before its
    cursor moved. A side session holds the cursor table in SHARE mode (reads pass, writes
    wait): the relay reads its cursor and rows, publishes them, has every ack, then waits
    on its cursor update; once a session waits there the process is killed, the lock
    released (the orphaned transaction never commits) and the service restarted. True if
    the relay was caught there (the fault is then labelled so); else it is killed anyway."""
    conn = await asyncpg.connect(stack.database_url)
    caught = False
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute(f"LOCK TABLE {name}.outbox_cursor IN SHARE MODE")
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if await conn.fetchval(WAITING_ON, name, "outbox_cursor"):
                caught = True
                break
            await asyncio.sleep(0.02)
        stack.kill(name, at=BETWEEN if caught else "")
        await tx.rollback()
    finally:
        await conn.close()
    await stack.restart(name)
    return caught


async def terminate_repeatedly(stack: Stack, times: int, every: float) -> None:
    for _ in range(times):
        await asyncio.sleep(every)
        await stack.terminate_connections()


async def lock_then_kill(stack: Stack, table: str, hold: float, victim: str | None) -> None:
    """Hold `table` locked; SIGKILL `victim` halfway (its writers are inside transactions)."""
    await asyncio.sleep(1)
    lock = asyncio.create_task(stack.hold_lock(table, hold))
    if victim is not None:
        await asyncio.sleep(hold / 2)
        stack.kill(victim, at="in tx")
    await lock
    if victim is not None:
        await stack.restart(victim)


async def pause_replica(stack: Stack, name: str, seconds: float) -> None:
    """A second replica joins; the first is SIGSTOPped past its session, then resumed."""
    stack.spawn(name)
    await stack.wait_ready()
    await asyncio.sleep(1)
    first = stack.procs[name][0]
    stack.pause(first)
    await asyncio.sleep(seconds)
    stack.resume(first)


async def churn(stack: Stack, name: str, rounds: int) -> None:
    """Replicas added and removed mid-stream."""
    for _ in range(rounds):
        stack.spawn(name)
        await stack.wait_ready()
        await asyncio.sleep(1)
        stack.remove(name, len(stack.procs[name]) - 1)


async def open_incidents(stack: Stack, key_like: str) -> list[int]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT id FROM incidents.incidents WHERE key LIKE $1 AND status = 'open'", key_like
        )
    finally:
        await conn.close()
    return [int(r["id"]) for r in rows]


async def acknowledge_all(stack: Stack, ids: list[int]) -> None:
    """Lifecycle commands through the gateway: they commit in PostgreSQL with no broker."""
    headers = {"authorization": f"Bearer {stack.tokens['responder']}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=15) as c:
        for i in ids:
            resp = await c.post(f"/api/incidents/{i}/acknowledge", json={})
            assert resp.status_code == 200, resp.text


async def pager_deliveries(stack: Stack, ids: list[int]) -> dict[tuple[int, str], Any]:
    """The notifier's PagerDuty deliveries of `ids` by (incident, transition), latest cycle."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (incident_id, transition) incident_id, transition, status, "
            "storm_id FROM notifier.deliveries WHERE sink = 'pagerduty' "
            "AND incident_id = ANY($1::bigint[]) ORDER BY incident_id, transition, cycle DESC",
            ids,
        )
    finally:
        await conn.close()
    return {(int(r["incident_id"]), r["transition"]): r for r in rows}
