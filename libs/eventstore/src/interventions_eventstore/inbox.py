"""Consumer inbox: record processed event ids in the same transaction as the effects, so a
redelivered event is recognised and skipped (exactly-once effects over at-least-once delivery).

Ids are kept for a retention period, then pruned (`prune_inbox`): a consumer re-reads an
event it already handled only after a crash or rebalance before its offsets were committed
(seconds), or when an operator moves its offsets back (`interventions reprocess`), which
refuses to go back further than the retention. Without pruning the table grew by one row per
consumed record, forever."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import asyncpg

from .db import ident, rows_affected


class Inbox:
    def __init__(self, schema: str, consumer: str):
        self.schema = ident(schema)
        self.consumer = consumer
        self._claim = (
            f"INSERT INTO {self.schema}.inbox (consumer, event_id) "
            "SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING event_id"
        )

    async def claim(self, conn: asyncpg.Connection, event_ids: Sequence[str]) -> set[str]:
        """Mark ids processed inside the caller's transaction; returns those not seen before."""
        if not event_ids:
            return set()
        rows = await conn.fetch(self._claim, self.consumer, list(event_ids))
        return {r["event_id"] for r in rows}

    async def seen(self, conn: asyncpg.Connection, event_id: str) -> bool:
        return bool(
            await conn.fetchval(
                f"SELECT 1 FROM {self.schema}.inbox WHERE consumer = $1 AND event_id = $2",
                self.consumer,
                event_id,
            )
        )


async def prune_inbox(
    pool: asyncpg.Pool,
    schema: str,
    older_than: timedelta,
    *,
    chunk: int = 10_000,
    pause_s: float = 0.05,
) -> int:
    """Delete inbox ids processed more than `older_than` ago (by the database's clock), in
    chunks of `chunk` rows with a short pause between them, so concurrent claims never wait
    long on one big delete. Safe in every replica at once. Returns how many were deleted."""
    s = ident(schema)
    sql = (
        f"DELETE FROM {s}.inbox WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM {s}.inbox WHERE processed_at < now() - $1::interval LIMIT $2))"
    )
    total = 0
    while True:
        status = await pool.execute(sql, older_than, chunk)
        deleted = rows_affected(status)
        total += deleted
        if deleted < chunk:
            return total
        await asyncio.sleep(pause_s)
