"""The playbooks service keeps the newest snapshot of each incident, a batch at a time, in
the real PostgreSQL."""

from __future__ import annotations

from typing import Any

from interventions_eventstore import CORE, create_pool, migrate
from playbooks.repo import Repo
from playbooks.tables import MIGRATIONS


def snap(incident_id: int, version: int, status: str) -> dict[str, Any]:
    return {
        "id": incident_id,
        "key": f"INV_{incident_id}",
        "kind": "invariant",
        "severity": "sev2",
        "status": status,
        "playbooks": ["clear_cache"],
        "details": {"agent": "inbox.triage", "version": version},
        "version": version,
    }


async def test_a_batch_keeps_each_incidents_newest_snapshot_whatever_the_order(
    database_url: str,
) -> None:
    pool = await create_pool(database_url, max_size=2)
    try:
        await migrate(pool, "playbooks", CORE)
        await migrate(pool, "playbooks", MIGRATIONS, component="playbooks")
        repo = Repo("playbooks")
        async with pool.acquire() as conn, conn.transaction():
            await repo.upsert_incidents(conn, [snap(1, 1, "open"), snap(2, 1, "open")])
        async with pool.acquire() as conn, conn.transaction():
            # incident 1: a newer snapshot, then an older one redelivered in the same batch;
            # incident 2: an older one alone; incident 3: new
            await repo.upsert_incidents(
                conn,
                [
                    snap(1, 3, "acknowledged"),
                    snap(1, 2, "open"),
                    snap(2, 0, "open"),
                    snap(3, 1, "open"),
                ],
            )
            await repo.upsert_incidents(conn, [])
        views = {i: await repo.incident(pool, i) for i in (1, 2, 3)}
        assert {i: (v.status, v.details["version"]) for i, v in views.items() if v} == {
            1: ("acknowledged", 3),
            2: ("open", 1),
            3: ("open", 1),
        }
        assert views[1] is not None and views[1].playbooks == ("clear_cache",)
    finally:
        await pool.close()
