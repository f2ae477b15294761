"""SQL for the notifier's tables; every function runs inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from .domain import Delivery, Effects, Timer, TimerRow, Tracked

SSE_CHANNEL = "sse_notifier"


class Store:
    def __init__(self, schema: str):
        self.s = schema

    async def tracked(self, conn: asyncpg.Connection, incident_id: int) -> Tracked | None:
        """Load and lock one incident, so consumers and the timer loop take turns on it."""
        row = await conn.fetchrow(
            f"SELECT * FROM {self.s}.tracked WHERE incident_id = $1 FOR UPDATE", incident_id
        )
        if row is None:
            return None
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

    async def save(self, conn: asyncpg.Connection, t: Tracked) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.tracked (incident_id, cycle, severity, team, kind, status, "
            "snapshot, policy, told) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (incident_id) DO UPDATE SET cycle = excluded.cycle, "
            "severity = excluded.severity, team = excluded.team, kind = excluded.kind, "
            "status = excluded.status, snapshot = excluded.snapshot, policy = excluded.policy, "
            "told = excluded.told, updated_at = now()",
            t.incident_id,
            t.cycle,
            t.severity,
            t.team,
            t.kind,
            t.status,
            t.snapshot,
            t.policy,
            sorted(t.told),
        )

    async def apply(
        self,
        conn: asyncpg.Connection,
        fx: Effects,
        now: datetime,
        traceparent: str | None = None,
    ) -> None:
        """Store the effects of one decision (not the SSE frames or events: see callers);
        deliveries keep `traceparent` for their vendor call's span."""
        if fx.tracked is None:
            return
        t = fx.tracked
        await self.save(conn, t)
        if fx.cancel:
            await self._cancel(conn, t.incident_id, fx.cancel)
        if fx.expedite_escalation:
            await conn.execute(
                f"UPDATE {self.s}.timers SET due_at = $2 WHERE incident_id = $1 "
                "AND kind = 'escalation' AND status = 'pending'",
                t.incident_id,
                now,
            )
        for timer in fx.schedule:
            await self._schedule(conn, t, timer)
        for d in fx.deliveries:
            await self._deliver(conn, t.cycle, d, now, traceparent)

    async def _cancel(self, conn: asyncpg.Connection, incident_id: int, names: set[str]) -> None:
        await conn.execute(
            f"UPDATE {self.s}.timers SET status = 'cancelled' WHERE incident_id = $1 "
            "AND status = 'pending' AND ((kind = 'escalation' AND '*' = ANY($2::text[])) "
            "OR (kind = 'sla' AND name = ANY($2::text[])))",
            incident_id,
            sorted(names),
        )

    async def _schedule(self, conn: asyncpg.Connection, t: Tracked, timer: Timer) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.timers (incident_id, cycle, kind, name, due_at, payload) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            t.incident_id,
            t.cycle,
            timer.kind,
            timer.name,
            timer.due_at,
            timer.payload,
        )

    async def _deliver(
        self,
        conn: asyncpg.Connection,
        cycle: int,
        d: Delivery,
        now: datetime,
        traceparent: str | None = None,
    ) -> None:
        """Record an intended send; a known idempotency key is never recorded twice."""
        if await conn.fetchval(
            f"SELECT 1 FROM {self.s}.deliveries WHERE idempotency_key = $1", d.idempotency_key
        ):
            return
        due, headline = now + timedelta(seconds=d.delay_s), d.headline
        if d.coalesce:
            merged = await conn.fetchrow(
                f"WITH old AS (UPDATE {self.s}.deliveries SET status = 'coalesced', "
                "done_at = now() WHERE seq IN (SELECT seq FROM "
                f"{self.s}.deliveries WHERE incident_id = $1 AND sink = $2 AND cycle = $3 "
                "AND transition = 'update' AND status = 'pending' FOR UPDATE SKIP LOCKED) "
                "RETURNING seq, due_at, headline) "
                "SELECT min(due_at) AS due, string_agg(headline, ' · ' ORDER BY seq) AS heads "
                "FROM old",
                d.incident_id,
                d.sink,
                cycle,
            )
            if merged is not None and merged["due"] is not None:
                due, headline = merged["due"], f"{merged['heads']} · {d.headline}"
        await conn.execute(
            f"INSERT INTO {self.s}.deliveries (idempotency_key, incident_id, cycle, sink, "
            "transition, headline, snapshot, due_at, traceparent) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING",
            d.idempotency_key,
            d.incident_id,
            cycle,
            d.sink,
            d.transition,
            headline[:3000],
            d.snapshot,
            due,
            traceparent,
        )

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
