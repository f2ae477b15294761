"""Issue-sync tables: the per-incident work queue (ops) and the incident -> ticket links."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from interventions_eventstore import ident

MIGRATIONS = [
    """
    CREATE TABLE {schema}.tracked (
        incident_id bigint PRIMARY KEY,
        next_seq int NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE {schema}.ops (
        incident_id bigint NOT NULL,
        seq int NOT NULL,
        kind text NOT NULL,
        payload jsonb NOT NULL,
        source_event_id text NOT NULL,
        status text NOT NULL DEFAULT 'pending',
        attempts int NOT NULL DEFAULT 0,
        due_at timestamptz NOT NULL DEFAULT now(),
        error_kind text,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        PRIMARY KEY (incident_id, seq)
    );
    CREATE INDEX ops_pending ON {schema}.ops (incident_id, seq) WHERE status = 'pending';
    CREATE TABLE {schema}.links (
        incident_id bigint PRIMARY KEY,
        provider text NOT NULL,
        external_id text NOT NULL,
        url text NOT NULL,
        state text NOT NULL DEFAULT 'open',
        linked_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    # the trace context an op was queued in, so its tracker call joins that trace
    """
    ALTER TABLE {schema}.ops ADD COLUMN traceparent text;
    """,
    # the token bucket that paces content-creating tracker calls across all replicas
    """
    CREATE TABLE {schema}.pacing (
        provider text PRIMARY KEY,
        tokens double precision NOT NULL,
        refilled_at timestamptz NOT NULL
    );
    """,
]


@dataclass(frozen=True, slots=True)
class PendingOp:
    incident_id: int
    seq: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    error_kind: str | None
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    incident_id: int
    provider: str
    external_id: str
    url: str
    state: str


class SyncStore:
    """SQL for the queue and links; every method runs on the connection it is given."""

    def __init__(self, schema: str):
        self.s = ident(schema)

    async def is_tracked(self, conn: asyncpg.Connection, incident_id: int) -> bool:
        return bool(
            await conn.fetchval(
                f"SELECT 1 FROM {self.s}.tracked WHERE incident_id = $1", incident_id
            )
        )

    async def enqueue(
        self,
        conn: asyncpg.Connection,
        incident_id: int,
        event_id: str,
        ops: Sequence[tuple[str, dict[str, Any]]],
        traceparent: str | None = None,
    ) -> None:
        """Append ops after the incident's last one (the row lock serialises writers)."""
        first = await conn.fetchval(
            f"INSERT INTO {self.s}.tracked (incident_id, next_seq) VALUES ($1, $2 + 1) "
            f"ON CONFLICT (incident_id) DO UPDATE SET next_seq = {self.s}.tracked.next_seq + $2 "
            "RETURNING next_seq - $2",
            incident_id,
            len(ops),
        )
        await conn.executemany(
            f"INSERT INTO {self.s}.ops (incident_id, seq, kind, payload, source_event_id, "
            "traceparent) VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (incident_id, first + i, kind, payload, event_id, traceparent)
                for i, (kind, payload) in enumerate(ops)
            ],
        )

    async def due_heads(self, conn: asyncpg.Connection, limit: int = 50) -> list[PendingOp]:
        """Each incident's first pending op, when it is due, oldest first."""
        rows = await conn.fetch(
            f"SELECT o.* FROM {self.s}.ops o WHERE o.status = 'pending' AND o.due_at <= now() "
            f"AND NOT EXISTS (SELECT 1 FROM {self.s}.ops p WHERE p.incident_id = o.incident_id "
            "AND p.status = 'pending' AND p.seq < o.seq) ORDER BY o.created_at, o.seq LIMIT $1",
            limit,
        )
        return [_op(r) for r in rows]

    async def head(self, conn: asyncpg.Connection, incident_id: int) -> PendingOp | None:
        row = await conn.fetchrow(
            f"SELECT * FROM {self.s}.ops WHERE incident_id = $1 AND status = 'pending' "
            "ORDER BY seq LIMIT 1",
            incident_id,
        )
        return _op(row) if row else None

    async def next_due_in(self, conn: asyncpg.Connection) -> float | None:
        value = await conn.fetchval(
            f"SELECT extract(epoch FROM min(o.due_at) - now()) FROM {self.s}.ops o "
            f"WHERE o.status = 'pending' AND NOT EXISTS (SELECT 1 FROM {self.s}.ops p "
            "WHERE p.incident_id = o.incident_id AND p.status = 'pending' AND p.seq < o.seq)"
        )
        return None if value is None else max(0.0, float(value))

    async def start_attempt(self, conn: asyncpg.Connection, op: PendingOp) -> None:
        await conn.execute(
            f"UPDATE {self.s}.ops SET attempts = attempts + 1 WHERE incident_id = $1 AND seq = $2",
            op.incident_id,
            op.seq,
        )

    async def finish(
        self, conn: asyncpg.Connection, op: PendingOp, status: str, error: str | None = None
    ) -> None:
        await conn.execute(
            f"UPDATE {self.s}.ops SET status = $3, last_error = coalesce($4, last_error), "
            "finished_at = now() WHERE incident_id = $1 AND seq = $2",
            op.incident_id,
            op.seq,
            status,
            error,
        )

    async def postpone(
        self, conn: asyncpg.Connection, op: PendingOp, delay: timedelta, error_kind: str, error: str
    ) -> None:
        await conn.execute(
            f"UPDATE {self.s}.ops SET due_at = now() + $3, error_kind = $4, last_error = $5 "
            "WHERE incident_id = $1 AND seq = $2",
            op.incident_id,
            op.seq,
            delay,
            error_kind,
            error,
        )

    async def retry_auth_failures_now(self, conn: asyncpg.Connection) -> None:
        """On start the credentials may have been fixed: auth-parked ops are due again."""
        await conn.execute(
            f"UPDATE {self.s}.ops SET due_at = now() "
            "WHERE status = 'pending' AND error_kind = 'auth'"
        )

    async def link(self, conn: asyncpg.Connection, incident_id: int) -> Link | None:
        row = await conn.fetchrow(
            f"SELECT * FROM {self.s}.links WHERE incident_id = $1", incident_id
        )
        if row is None:
            return None
        return Link(
            row["incident_id"], row["provider"], row["external_id"], row["url"], row["state"]
        )

    async def save_link(self, conn: asyncpg.Connection, link: Link) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.links (incident_id, provider, external_id, url, state) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident_id) DO UPDATE SET "
            "provider = excluded.provider, external_id = excluded.external_id, "
            "url = excluded.url, state = excluded.state, updated_at = now()",
            link.incident_id,
            link.provider,
            link.external_id,
            link.url,
            link.state,
        )

    async def set_state(self, conn: asyncpg.Connection, incident_id: int, state: str) -> None:
        await conn.execute(
            f"UPDATE {self.s}.links SET state = $2, updated_at = now() WHERE incident_id = $1",
            incident_id,
            state,
        )

    async def take_token(
        self, conn: asyncpg.Connection, provider: str, per_minute: float, burst: int
    ) -> float:
        """Take one token from the provider's shared bucket: 0.0 when taken, else the seconds
        until the next token (nothing is taken then). The row lock serialises replicas."""
        async with conn.transaction():
            await conn.execute(
                f"INSERT INTO {self.s}.pacing (provider, tokens, refilled_at) "
                "VALUES ($1, $2, clock_timestamp()) ON CONFLICT (provider) DO NOTHING",
                provider,
                float(burst),
            )
            row = await conn.fetchrow(
                f"SELECT tokens, extract(epoch FROM clock_timestamp() - refilled_at) AS age "
                f"FROM {self.s}.pacing WHERE provider = $1 FOR UPDATE",
                provider,
            )
            rate = per_minute / 60.0
            tokens = min(float(burst), row["tokens"] + max(0.0, float(row["age"])) * rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
            await conn.execute(
                f"UPDATE {self.s}.pacing SET tokens = $2, refilled_at = clock_timestamp() "
                "WHERE provider = $1",
                provider,
                tokens - 1.0 if wait == 0.0 else tokens,
            )
        return wait

    async def queued(self, conn: asyncpg.Connection) -> int:
        """Ops still waiting to be performed (all incidents)."""
        return int(
            await conn.fetchval(f"SELECT count(*) FROM {self.s}.ops WHERE status = 'pending'")
        )

    async def ops_of(self, conn: asyncpg.Connection, incident_id: int) -> list[dict[str, Any]]:
        rows = await conn.fetch(
            f"SELECT seq, kind, status, attempts, last_error, created_at, finished_at "
            f"FROM {self.s}.ops WHERE incident_id = $1 ORDER BY seq",
            incident_id,
        )
        return [dict(r) for r in rows]


def _op(row: asyncpg.Record) -> PendingOp:
    return PendingOp(
        row["incident_id"],
        row["seq"],
        row["kind"],
        row["payload"],
        row["attempts"],
        row["error_kind"],
        row["traceparent"],
    )
