"""Migration 4: an incident's details and playbooks become `json`. Rows stored before it (as
`jsonb`) read back as the same incident and list as the same JSON; rows stored after it list
as the text the service wrote."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import orjson
from incidents import commands as c
from incidents.domain import Incident, decide, evolve
from incidents.migrations import MIGRATIONS
from incidents.queries import Filters, Queries
from incidents.readmodel import ReadModel
from interventions_eventstore import CORE, create_pool, migrate

DETAILS = {"invariant": {"id": "x", "actual": 1.5, "nested": [1, None, "é"]}, "b": {}}


def opened(iid: int) -> Incident:
    cmd = c.OpenIncident(
        incident_id=iid,
        kind="invariant",
        key=f"INV_{iid}",
        subject="inbox.triage",
        severity="sev2",
        summary="s",
        details=DETAILS,
        playbooks=("rerun_eval", "rerun_dbt"),
        owner_team="data-platform",
        detection_id=f"d-{iid}",
        rule="opened",
    )
    (event,) = decide(cmd, None, datetime(2026, 5, 4, 3, 2, 1, 7, tzinfo=UTC))
    return evolve(None, event)


async def column_types(pool: asyncpg.Pool) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'incidents' AND table_name = 'incidents' "
        "AND column_name IN ('details', 'playbooks')"
    )
    return {r["column_name"]: r["data_type"] for r in rows}


async def test_rows_from_before_migration_4_read_and_list_as_the_same_json(
    database_url: str,
) -> None:
    before = await create_pool(database_url, max_size=2)
    try:  # a store written by the service before migration 4
        await migrate(before, "incidents", CORE)
        await migrate(before, "incidents", MIGRATIONS[:3], component="incidents")
        assert await column_types(before) == {"details": "jsonb", "playbooks": "jsonb"}
        async with before.acquire() as conn:
            await ReadModel("incidents").save(conn, [opened(1)])
    finally:
        await before.close()
    pool = await create_pool(database_url, max_size=2)  # the service started again
    try:
        await migrate(pool, "incidents", MIGRATIONS, component="incidents")
        assert await column_types(pool) == {"details": "json", "playbooks": "json"}
        rm = ReadModel("incidents")
        async with pool.acquire() as conn:
            await rm.save(conn, [opened(2)])
            got = await rm.get(conn, [1, 2])
        assert got == {1: opened(1), 2: opened(2)}
        page = await Queries(pool).page_json(Filters(), limit=10, before=None)
        items = orjson.loads(page)["items"]
        assert [i["id"] for i in items] == [2, 1]
        assert items[1] == got[1].to_json() and items[0] == got[2].to_json()
        # written after the migration: its item is the service's own bytes
        assert orjson.dumps(got[2].to_json()) in page
        assert orjson.dumps(DETAILS) in page
    finally:
        await pool.close()
