"""The effects of a batch of decisions in a few statements, with the result of writing each
decision's effects in turn.

Writes to different incidents commute, and so do inserts after inserts (first one wins
either way), so they share one pipelined statement per kind. A write that must see an
earlier one of the same incident (a cancel or expedite after a timer insert, a coalescing
chat update after a delivery insert) first flushes what is pending: per batch of fresh
incidents that is one statement per table.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from .domain import Delivery, Effects, Tracked

# kind -> the pending kinds a new write of that kind must not overtake on the same incident
_AFTER = {
    "timer": ("cancel", "expedite"),
    "cancel": ("timer", "expedite"),
    "expedite": ("timer", "cancel"),
    "deliver": (),
}


class Writes:
    """Pending writes of one transaction; `flush()` before commit."""

    def __init__(self, schema: str, conn: asyncpg.Connection, now: datetime):
        self.s = schema
        self.conn = conn
        self.now = now
        self.tracked: dict[int, Tracked] = {}
        self.rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in _AFTER}
        self.touched: dict[str, set[int]] = {k: set() for k in _AFTER}

    async def add(self, fx: Effects, traceparent: str | None = None) -> None:
        """Queue one decision's effects (not its SSE frames or events: see callers);
        deliveries keep `traceparent` for their vendor call's span."""
        if fx.tracked is None:
            return
        t = fx.tracked
        i = t.incident_id
        self.tracked[i] = t
        if fx.cancel:
            await self._queue("cancel", i, (i, sorted(fx.cancel)))
        if fx.expedite_escalation:
            await self._queue("expedite", i, (i, self.now))
        for tm in fx.schedule:
            await self._queue("timer", i, (i, t.cycle, tm.kind, tm.name, tm.due_at, tm.payload))
        for d in fx.deliveries:
            if d.coalesce:
                if i in self.touched["deliver"]:
                    await self.flush()
                await self._coalesced(t.cycle, d, traceparent)
            else:
                row = _delivery(
                    t.cycle, d, d.headline, self.now + timedelta(seconds=d.delay_s), traceparent
                )
                await self._queue("deliver", i, row)

    async def _queue(self, kind: str, incident_id: int, row: tuple[Any, ...]) -> None:
        if any(incident_id in self.touched[k] for k in _AFTER[kind]):
            await self.flush()
        self.rows[kind].append(row)
        self.touched[kind].add(incident_id)

    async def flush(self) -> None:
        """Write everything pending, one statement per kind."""
        s, conn = self.s, self.conn
        if self.tracked:
            await conn.executemany(
                _SAVE.format(s=s), [_tracked_row(t) for t in self.tracked.values()]
            )
            self.tracked = {}
        statements = {
            "cancel": _CANCEL,
            "expedite": _EXPEDITE,
            "timer": _SCHEDULE,
            "deliver": _DELIVER,
        }
        for kind, sql in statements.items():
            if self.rows[kind]:
                await conn.executemany(sql.format(s=s), self.rows[kind])
                self.rows[kind] = []
                self.touched[kind] = set()

    async def _coalesced(self, cycle: int, d: Delivery, traceparent: str | None) -> None:
        """A chat update merged with the incident's pending ones (earlier headlines first,
        the earliest due time); a known idempotency key is never recorded twice."""
        conn, s = self.conn, self.s
        if await conn.fetchval(
            f"SELECT 1 FROM {s}.deliveries WHERE idempotency_key = $1", d.idempotency_key
        ):
            return
        due, headline = self.now + timedelta(seconds=d.delay_s), d.headline
        merged = await conn.fetchrow(_COALESCE.format(s=s), d.incident_id, d.sink, cycle)
        if merged is not None and merged["due"] is not None:
            due, headline = merged["due"], f"{merged['heads']} · {d.headline}"
        await conn.execute(_DELIVER.format(s=s), *_delivery(cycle, d, headline, due, traceparent))


def _delivery(
    cycle: int, d: Delivery, headline: str, due: datetime, traceparent: str | None
) -> tuple[Any, ...]:
    return (
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


def _tracked_row(t: Tracked) -> tuple[Any, ...]:
    return (
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


_SAVE = (
    "INSERT INTO {s}.tracked (incident_id, cycle, severity, team, kind, status, snapshot, "
    "policy, told) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (incident_id) DO UPDATE SET cycle = excluded.cycle, "
    "severity = excluded.severity, team = excluded.team, kind = excluded.kind, "
    "status = excluded.status, snapshot = excluded.snapshot, policy = excluded.policy, "
    "told = excluded.told, updated_at = now()"
)
_CANCEL = (
    "UPDATE {s}.timers SET status = 'cancelled' WHERE incident_id = $1 "
    "AND status = 'pending' AND ((kind = 'escalation' AND '*' = ANY($2::text[])) "
    "OR (kind = 'sla' AND name = ANY($2::text[])))"
)
_EXPEDITE = (
    "UPDATE {s}.timers SET due_at = $2 WHERE incident_id = $1 "
    "AND kind = 'escalation' AND status = 'pending'"
)
_SCHEDULE = (
    "INSERT INTO {s}.timers (incident_id, cycle, kind, name, due_at, payload) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
)
_DELIVER = (
    "INSERT INTO {s}.deliveries (idempotency_key, incident_id, cycle, sink, transition, "
    "headline, snapshot, due_at, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
_COALESCE = (
    "WITH old AS (UPDATE {s}.deliveries SET status = 'coalesced', done_at = now() "
    "WHERE seq IN (SELECT seq FROM {s}.deliveries WHERE incident_id = $1 AND sink = $2 "
    "AND cycle = $3 AND transition = 'update' AND status = 'pending' "
    "FOR UPDATE SKIP LOCKED) RETURNING seq, due_at, headline) "
    "SELECT min(due_at) AS due, string_agg(headline, ' · ' ORDER BY seq) AS heads FROM old"
)
