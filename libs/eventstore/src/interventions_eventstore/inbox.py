"""Consumer inbox: record processed event ids in the same transaction as the effects, so a
redelivered event is recognised and skipped (exactly-once effects over at-least-once delivery)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from .db import ident


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
