"""The incident list's keyset pages: one branch per status, merged newest first, filters and
cursor applied in every branch; walking the cursor returns each match exactly once."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
from incidents import commands as c
from incidents.domain import Incident, decide, evolve
from incidents.migrations import MIGRATIONS
from incidents.queries import Filters, Queries
from incidents.readmodel import ReadModel
from interventions_eventstore import CORE, create_pool, migrate

STATUSES = ("open", "acknowledged", "mitigated", "resolved", "closed")


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, max_size=2)
    await migrate(p, "incidents", CORE)
    await migrate(p, "incidents", MIGRATIONS, component="incidents")
    yield p
    await p.close()


def incident(iid: int, status: str, severity: str, team: str) -> Incident:
    cmd = c.OpenIncident(
        incident_id=iid,
        kind="invariant",
        key=f"INV_{iid % 7}",
        subject="inbox.triage",
        severity=severity,
        summary="s",
        details={},
        playbooks=(),
        owner_team=team,
        detection_id=str(uuid.uuid4()),
        rule="opened",
    )
    (event,) = decide(cmd, None, datetime.now(UTC))
    return replace(evolve(None, event), status=status)


async def walk(q: Queries, f: Filters, limit: int) -> list[int]:
    ids: list[int] = []
    cursor: int | None = None
    while True:
        items, cursor = await q.page(f, limit=limit, before=cursor)
        ids += [i.id for i in items]
        if cursor is None:
            return ids


async def test_pages_merge_the_status_branches_newest_first_each_match_once(
    pool: asyncpg.Pool,
) -> None:
    rng = random.Random(7)
    stored = [
        incident(i, rng.choice(STATUSES), rng.choice(["sev1", "sev2"]), rng.choice("ab"))
        for i in range(1, 301)
    ]
    async with pool.acquire() as conn:
        await ReadModel("incidents").save(conn, stored)
    q = Queries(pool)
    for f in (
        Filters(status=["open"]),
        Filters(status=["open", "resolved", "open"]),
        Filters(status=["acknowledged", "mitigated"], severity=["sev1"], team="a"),
        Filters(key="INV_3"),
        Filters(),
    ):
        expected = sorted(
            (
                i.id
                for i in stored
                if (not f.status or i.status in f.status)
                and (not f.severity or i.severity in f.severity)
                and (f.team is None or i.owner_team == f.team)
                and (f.key is None or i.key == f.key)
            ),
            reverse=True,
        )
        assert expected, f
        assert await walk(q, f, limit=7) == expected, f
