"""At most one active incident per key, also when a reopen races a detection that opens the
key's next incident (found by tests/races): the domain refuses the reopen, and the
one-active-per-key index makes the later of two concurrent writers decide again."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest
from incidents import commands as c
from incidents.domain import DomainError
from incidents.readmodel import ReadModel, rebuild_read_model
from incidents.service import IncidentService

from .test_two_writers import detection, service


async def active(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    rows = await pool.fetch(
        "SELECT key, id FROM incidents.incidents "
        "WHERE status IN ('open', 'acknowledged', 'mitigated') ORDER BY id"
    )
    return [(r["key"], r["id"]) for r in rows]


async def test_reopen_is_refused_while_the_key_has_another_active_incident(
    pool: asyncpg.Pool,
) -> None:
    svc = service(pool)
    await svc.handle_detections([detection("K")])
    await svc.execute(c.Resolve(1, "ann"))
    await svc.handle_detections([detection("K")])  # the key's next incident: 2
    assert await active(pool) == [("K", 2)]
    with pytest.raises(DomainError, match="incident 2 for key K is open"):
        await svc.execute(c.Reopen(1, "rita"))
    await svc.execute(c.Resolve(2, "ann"))
    reopened = await svc.execute(c.Reopen(1, "rita"))  # nothing else active now: allowed
    assert reopened.status == "open" and await active(pool) == [("K", 1)]


async def test_a_reopen_racing_a_new_incident_leaves_one_active(pool: asyncpg.Pool) -> None:
    for round_ in range(12):
        key = f"K{round_}"
        a, b = service(pool), service(pool)
        await a.handle_detections([detection(key)])
        (first,) = [i for k, i in await active(pool) if k == key]
        await a.execute(c.Resolve(first, "ann"))

        async def reopen(svc: IncidentService, iid: int) -> None:
            with contextlib.suppress(DomainError):  # the detection won: its incident is active
                await svc.execute(c.Reopen(iid, "rita"))

        await asyncio.gather(a.handle_detections([detection(key)]), reopen(b, first))
        keys = [k for k, _ in await active(pool)]
        assert keys.count(key) == 1, await active(pool)
    async with pool.acquire() as conn:
        live = await ReadModel("incidents").content_hash(conn)
    assert await rebuild_read_model(pool) == live


async def test_the_index_refuses_a_second_active_incident(pool: asyncpg.Pool) -> None:
    """Without the domain check the database still says no (what makes the race safe)."""
    svc = service(pool)
    await svc.handle_detections([detection("K")])
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO incidents.incidents SELECT 99, kind, key, subject, severity, status, "
            "summary, details, playbooks, owner_team, issue_url, occurrences, created_at, "
            "last_seen_at, acknowledged_at, acknowledged_by, mitigated_at, resolved_at, "
            "resolution, closed_at, version, last_transition FROM incidents.incidents "
            "WHERE id = 1"
        )
