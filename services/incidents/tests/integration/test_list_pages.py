"""The incident list's keyset pages: one branch per status, merged newest first, filters and
cursor applied in every branch; walking the cursor returns each match exactly once."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import orjson
from incidents import commands as c
from incidents.domain import Incident, decide, evolve
from incidents.queries import Filters, Lane, Queries
from incidents.readmodel import ReadModel

STATUSES = ("open", "acknowledged", "mitigated", "resolved", "closed")


def key_of(iid: int, status: str, keys: int = 7) -> str:
    """Shared keys for ended incidents; an active one has its key to itself (one active
    incident per key, as the read model's index demands)."""
    return f"INV_{iid % keys}" if status in ("resolved", "closed") else f"ACT_{iid}"


def incident(iid: int, status: str, severity: str, team: str) -> Incident:
    cmd = c.OpenIncident(
        incident_id=iid,
        kind="invariant",
        key=key_of(iid, status),
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


async def test_the_json_page_is_the_incidents_own_json_byte_for_byte(pool: asyncpg.Pool) -> None:
    """`page_json` (rows serialized as selected) equals `page` + `Incident.to_json()` for every
    lifecycle field: timestamps with and without microseconds, nulls, details, playbooks."""
    base = incident(1, "open", "sev2", "a")
    at = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)  # no microseconds: isoformat drops them
    stored = [
        replace(
            base,
            id=i,
            details={"invariant": {"id": f"x{i}", "actual": 1.5, "nested": [1, None, "é"]}},
            playbooks=("rerun_eval", "rerun_dbt"),
            created_at=at,
            last_seen_at=at.replace(microsecond=120),
            acknowledged_at=at if i % 2 else None,
            acknowledged_by="ann" if i % 2 else None,
            mitigated_at=at.replace(microsecond=999_999) if i % 3 == 0 else None,
            resolved_at=at if i % 4 == 0 else None,
            resolution="false_positive" if i % 4 == 0 else None,
            closed_at=at if i % 5 == 0 else None,
            issue_url="https://example.test/1" if i % 2 else None,
            occurrences=i,
            version=i + 1,
            status=STATUSES[i % 5],
            key=key_of(i, STATUSES[i % 5], keys=2),
        )
        for i in range(1, 41)
    ]
    async with pool.acquire() as conn:
        await ReadModel("incidents").save(conn, stored)
    q = Queries(pool)
    for f, limit, before in (
        (Filters(), 15, None),
        (Filters(), 15, 20),
        (Filters(status=["open", "closed"]), 3, None),
        (Filters(key="INV_1"), 50, None),
        (Filters(status=["resolved"], team="nobody"), 5, None),
    ):
        items, nxt = await q.page(f, limit=limit, before=before)
        expected = {
            "items": [i.to_json() for i in items],
            "next_cursor": str(nxt) if nxt is not None else None,
        }
        assert await q.page_json(f, limit=limit, before=before) == orjson.dumps(expected)


async def test_the_read_lane_holds_at_most_its_size_and_returns_every_connection(
    pool: asyncpg.Pool,
) -> None:
    """Concurrent list reads share `size` connections (the writers keep the rest of the
    pool); once none is pending every connection is back in the pool, also after a failure."""
    lane = Lane(pool, size=2)
    backends = "SELECT pg_backend_pid() AS v, pg_sleep(0.02)"

    async def read(sql: str) -> int:
        return int((await lane.fetch(sql))[0]["v"])

    burst = await asyncio.gather(*(read(backends) for _ in range(12)))
    assert len(set(burst)) <= 2
    assert pool.get_idle_size() == pool.get_size()
    failed, *rest = await asyncio.gather(
        lane.fetch("SELECT no_such_column"), read(backends), read(backends), return_exceptions=True
    )
    assert isinstance(failed, asyncpg.PostgresError) and all(isinstance(r, int) for r in rest)
    assert pool.get_idle_size() == pool.get_size()
    assert await read(backends) > 0  # and the lane still works


async def test_identical_pages_asked_together_are_read_once_and_show_what_was_committed(
    pool: asyncpg.Pool,
) -> None:
    """Sixteen clients asking for the same page at once cost one or two reads (one running,
    the rest sharing the next), each gets the same bytes a lone request gets, and an incident
    committed before the next requests is in every one of their answers."""
    rm = ReadModel("incidents")
    async with pool.acquire() as conn:
        await rm.save(conn, [incident(i, "open", "sev2", "a") for i in range(1, 31)])
    q = Queries(pool)
    reads = 0
    fetch = q.lane.fetch

    async def counted(sql: str, *args: object) -> list[asyncpg.Record]:
        nonlocal reads
        reads += 1
        return await fetch(sql, *args)

    q.lane.fetch = counted  # type: ignore[method-assign]
    f = Filters(status=["open"])
    alone = await q.page_json(f, limit=10, before=None)
    reads = 0
    together = await asyncio.gather(*(q.page_json(f, limit=10, before=None) for _ in range(16)))
    assert set(together) == {alone} and 1 <= reads <= 2
    async with pool.acquire() as conn:
        await rm.save(conn, [incident(31, "open", "sev2", "a")])
    after = await asyncio.gather(*(q.page_json(f, limit=10, before=None) for _ in range(16)))
    assert {orjson.loads(page)["items"][0]["id"] for page in after} == {31}
    other = await q.page_json(f, limit=10, before=20)  # another page is its own read
    assert [i["id"] for i in orjson.loads(other)["items"]] == list(range(19, 9, -1))
