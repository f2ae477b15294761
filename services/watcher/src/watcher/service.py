"""The only code touching the watcher's tables: one batch's failing-state and last-seen
changes (two statements), sweep cycle claims and agent clocks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from interventions_eventstore import ident

from . import domain
from .domain import AgentClock, AgentSeen, Detection, Finding

Publish = Callable[[list[Detection]], Awaitable[None]]


class WatcherStore:
    def __init__(self, pool: asyncpg.Pool, schema: str = "watcher"):
        self.pool = pool
        s = self.schema = ident(schema)
        self._take = f"DELETE FROM {s}.failing WHERE key = ANY($1::text[]) RETURNING key"
        self._write = f"""
        WITH seen AS (
            INSERT INTO {s}.agents AS a (agent, last_eval_at, last_signal_at, watched_since)
            SELECT t.agent, t.eval_at, t.signal_at, coalesce(t.signal_at, now())
            FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS t(agent, eval_at, signal_at)
            ON CONFLICT (agent) DO UPDATE SET
                last_eval_at = greatest(a.last_eval_at, excluded.last_eval_at),
                last_signal_at = greatest(a.last_signal_at, excluded.last_signal_at)
            RETURNING 1
        ), cleared AS (
            DELETE FROM {s}.failing WHERE key = ANY($4::text[]) RETURNING 1
        ), failed AS (
            INSERT INTO {s}.failing AS f (key, kind, subject, since, last_failed_at, last_event_id)
            SELECT t.key, t.kind, t.subject, t.at, t.at, t.event_id
            FROM unnest($5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[])
                 AS t(key, kind, subject, at, event_id)
            ON CONFLICT (key) DO UPDATE SET
                last_failed_at = excluded.last_failed_at, last_event_id = excluded.last_event_id
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM seen) + (SELECT count(*) FROM cleared)
             + (SELECT count(*) FROM failed)
        """

    def connection(self) -> Any:
        """One pooled connection for a whole batch (`failing_keys`, then `commit_batch`):
        every acquire and release is a round trip more (the release resets the session)."""
        return self.pool.acquire()

    async def commit_batch(
        self,
        findings: Sequence[Finding],
        seen: Sequence[AgentSeen],
        publish: Publish,
        conn: asyncpg.Connection | None = None,
    ) -> list[Detection]:
        """Take the prior state of keys that pass, publish the batch's detections (`publish` is
        called even with none, so the caller can send what else the batch owes), record the
        new state; all in one transaction, so a failed publish leaves the state untouched and
        the redelivered batch is judged the same way. With nothing to take (no key passes)
        the state is one statement after the publish: atomic alone, no transaction's BEGIN
        and COMMIT round trips (a failed publish still writes nothing)."""
        if conn is None:
            async with self.pool.acquire() as own:
                return await self.commit_batch(findings, seen, publish, own)
        plan = domain.plan_state(findings)
        if not plan.first_pass:
            detections = domain.emissions(findings, set())
            await publish(detections)  # also when empty: the batch's dead letters go with it
            await conn.fetchval(self._write, *_write_args(plan, seen))
            return detections
        async with conn.transaction():
            rows = await conn.fetch(self._take, sorted(plan.first_pass))
            detections = domain.emissions(findings, {r["key"] for r in rows})
            await publish(detections)
            await conn.fetchval(self._write, *_write_args(plan, seen))
        return detections

    async def failing_keys(
        self, subjects: Collection[str], conn: asyncpg.Connection | None = None
    ) -> set[str]:
        """Keys failing now for these agents or planner versions (passes matter only there)."""
        if not subjects:
            return set()
        rows = await (conn or self.pool).fetch(
            f"SELECT key FROM {self.schema}.failing WHERE subject = ANY($1::text[])", list(subjects)
        )
        return {r["key"] for r in rows}

    async def claim_cycle(self, cycle: int, replica: str) -> bool:
        """True for exactly one replica per sweep cycle."""
        row = await self.pool.fetchval(
            f"INSERT INTO {self.schema}.sweeps (cycle, replica) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING cycle",
            cycle,
            replica,
        )
        return row is not None

    async def finish_cycle(self, cycle: int, results: dict[str, str]) -> None:
        """Record the cycle's results and forget cycles long past (they only guard claims)."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"UPDATE {self.schema}.sweeps SET checks = $2 WHERE cycle = $1", cycle, results
            )
            await conn.execute(f"DELETE FROM {self.schema}.sweeps WHERE cycle < $1", cycle - 1000)

    async def agent_clocks(self, watched: Sequence[str], now: datetime) -> list[AgentClock]:
        """Agents that have sent an eval, plus the configured ones (watched from now on).
        Agents seen only on budget or gate signals are not eval producers: not watched."""
        async with self.pool.acquire() as conn:
            if watched:
                await conn.execute(
                    f"INSERT INTO {self.schema}.agents (agent, watched_since) "
                    "SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING",
                    list(watched),
                    now,
                )
            rows = await conn.fetch(
                f"SELECT agent, last_eval_at, watched_since FROM {self.schema}.agents "
                "WHERE last_eval_at IS NOT NULL OR agent = ANY($1::text[]) ORDER BY agent",
                list(watched),
            )
        return [AgentClock(r["agent"], r["last_eval_at"], r["watched_since"]) for r in rows]

    async def record_failures(self, findings: Sequence[Finding]) -> None:
        """Remember keys the sweep found failing, so a later pass reports a recovery."""
        plan = domain.plan_state(findings)
        await self.pool.fetchval(self._write, *_write_args(plan, ()))


def _write_args(plan: domain.StatePlan, seen: Sequence[AgentSeen]) -> list[Any]:
    seen = sorted(seen, key=lambda a: a.agent)  # one lock order across replicas
    fails = [plan.final_fail[k] for k in sorted(plan.final_fail)]
    return [
        [a.agent for a in seen],
        [a.last_eval_at for a in seen],
        [a.last_signal_at for a in seen],
        sorted(plan.final_pass),
        [f.outcome.key for f in fails],
        [f.outcome.kind for f in fails],
        [f.outcome.subject for f in fails],
        [f.observed_at for f in fails],
        [f.source_id for f in fails],
    ]
