"""SQL for the notifier's tables; every function runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from .domain import Effects, TimerRow, Tracked
from .writes import Writes

SSE_CHANNEL = "sse_notifier"


class Store:
    def __init__(self, schema: str):
        self.s = schema

    async def tracked(self, conn: asyncpg.Connection, incident_id: int) -> Tracked | None:
        """Load and lock one incident, so consumers and the timer loop take turns on it."""
        row = await conn.fetchrow(
            f"SELECT * FROM {self.s}.tracked WHERE incident_id = $1 FOR UPDATE", incident_id
        )
        return None if row is None else _tracked(row)

    async def tracked_many(
        self, conn: asyncpg.Connection, incident_ids: Iterable[int]
    ) -> dict[int, Tracked]:
        """Load and lock a batch's incidents, in id order (so replicas never deadlock)."""
        rows = await conn.fetch(
            f"SELECT * FROM {self.s}.tracked WHERE incident_id = ANY($1::bigint[]) "
            "ORDER BY incident_id FOR UPDATE",
            sorted(set(incident_ids)),
        )
        return {r["incident_id"]: _tracked(r) for r in rows}

    async def apply(
        self,
        conn: asyncpg.Connection,
        fx: Effects,
        now: datetime,
        traceparent: str | None = None,
    ) -> None:
        """Store the effects of one decision (not the SSE frames or events: see callers)."""
        writes = Writes(self.s, conn, now)
        await writes.add(fx, traceparent)
        await writes.flush()

    async def append_sse(
        self, conn: asyncpg.Connection, frames: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """Append frames at commit-ordered positions (the counter row stays locked until
        commit, as in the outbox), so tailing replicas never skip a late commit."""
        if not frames:
            return
        await conn.execute(
            f"WITH p AS (UPDATE {self.s}.positions SET last = last + $1 WHERE name = 'sse' "
            "RETURNING last - $1 AS base) "
            f"INSERT INTO {self.s}.sse_log (position, event, data) "
            "SELECT p.base + t.ord, t.event, t.data::jsonb FROM p, "
            "unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(event, data, ord)",
            len(frames),
            [f[0] for f in frames],
            [orjson.dumps(f[1]).decode() for f in frames],
        )
        await conn.execute("SELECT pg_notify($1, '')", SSE_CHANNEL)

    async def due_timers(
        self, conn: asyncpg.Connection, now: datetime, limit: int = 50
    ) -> list[tuple[int, int]]:
        rows = await conn.fetch(
            f"SELECT id, incident_id FROM {self.s}.timers WHERE status = 'pending' "
            "AND due_at <= $1 ORDER BY due_at LIMIT $2",
            now,
            limit,
        )
        return [(r["id"], r["incident_id"]) for r in rows]

    async def claim_timer(
        self, conn: asyncpg.Connection, timer_id: int, now: datetime
    ) -> TimerRow | None:
        """Take a due timer once: a replica that locked it first wins, the other skips it."""
        row = await conn.fetchrow(
            f"UPDATE {self.s}.timers SET status = 'fired', fired_at = $2 WHERE id = ("
            f"SELECT id FROM {self.s}.timers WHERE id = $1 AND status = 'pending' "
            "AND due_at <= $2 FOR UPDATE SKIP LOCKED) RETURNING *",
            timer_id,
            now,
        )
        if row is None:
            return None
        return TimerRow(
            row["incident_id"],
            row["cycle"],
            row["kind"],
            row["name"],
            row["due_at"],
            row["payload"],
        )


def _tracked(row: asyncpg.Record) -> Tracked:
    return Tracked(
        row["incident_id"],
        row["cycle"],
        row["severity"],
        row["team"],
        row["kind"],
        row["status"],
        row["snapshot"],
        row["policy"],
        frozenset(row["told"]),
    )
