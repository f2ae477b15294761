"""SQL for the playbooks schema; every function runs on the caller's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from interventions_events.actions import ActionEvent
from interventions_eventstore import Outbox, OutboxMessage
from interventions_platform.kafka import Publisher

from .domain import PENDING, Breaker
from .registry import Command, IncidentView

Row = dict[str, Any]


class Repo:
    """Queries over one schema, plus emitting action events and commands via the outbox."""

    def __init__(self, schema: str):
        self.s = schema
        self.outbox = Outbox(schema)

    async def upsert_incidents(
        self, conn: asyncpg.Connection, snaps: Sequence[dict[str, Any]]
    ) -> None:
        """Keep the newest snapshot (by incident version) of each incident: one pipelined
        statement for the batch (executed row by row, in order, so two snapshots of one
        incident in a batch are compared like any other two)."""
        if not snaps:
            return
        await conn.executemany(
            f"""INSERT INTO {self.s}.incidents AS i (id, key, kind, severity, status, playbooks,
                    details, version, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
                ON CONFLICT (id) DO UPDATE SET key = excluded.key, kind = excluded.kind,
                    severity = excluded.severity, status = excluded.status,
                    playbooks = excluded.playbooks, details = excluded.details,
                    version = excluded.version, updated_at = now()
                WHERE excluded.version >= i.version""",
            [
                (
                    int(snap["id"]),
                    str(snap.get("key", "")),
                    str(snap.get("kind", "")),
                    str(snap.get("severity", "sev4")),
                    str(snap.get("status", "open")),
                    [str(p) for p in snap.get("playbooks") or []],
                    dict(snap.get("details") or {}),
                    int(snap.get("version") or 0),
                )
                for snap in snaps
            ],
        )

    async def incident(
        self, conn: asyncpg.Connection | asyncpg.Pool, incident_id: int
    ) -> IncidentView | None:
        row = await conn.fetchrow(f"SELECT * FROM {self.s}.incidents WHERE id = $1", incident_id)
        if row is None:
            return None
        return IncidentView(
            id=row["id"],
            key=row["key"],
            kind=row["kind"],
            severity=row["severity"],
            status=row["status"],
            playbooks=tuple(row["playbooks"]),
            details=dict(row["details"]),
        )

    async def lock_action(
        self, conn: asyncpg.Connection, action_type: str, incident_id: int
    ) -> None:
        """Serialise execution requests of one action on one incident (rate limit is exact)."""
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"{self.s}:{action_type}:{incident_id}"
        )

    async def recent_runs(
        self, conn: asyncpg.Connection, action_type: str, incident_id: int, since: datetime
    ) -> int:
        return int(
            await conn.fetchval(
                f"SELECT count(*) FROM {self.s}.executions WHERE incident_id = $1 AND action_type = $2 "
                "AND started_at >= $3",
                incident_id,
                action_type,
                since,
            )
        )

    async def breaker(
        self, conn: asyncpg.Connection | asyncpg.Pool, action_type: str, *, lock: bool = False
    ) -> Breaker:
        row = await conn.fetchrow(
            f"SELECT * FROM {self.s}.breakers WHERE action_type = $1"
            + (" FOR UPDATE" if lock else ""),
            action_type,
        )
        if row is None:
            return Breaker(action_type)
        return Breaker(action_type, row["failures"], row["open"], row["reason"])

    async def breakers(self, pool: asyncpg.Pool) -> dict[str, Breaker]:
        rows = await pool.fetch(f"SELECT * FROM {self.s}.breakers")
        return {
            r["action_type"]: Breaker(r["action_type"], r["failures"], r["open"], r["reason"])
            for r in rows
        }

    async def save_breaker(
        self, conn: asyncpg.Connection, b: Breaker, reset_by: str | None = None
    ) -> None:
        await conn.execute(
            f"""INSERT INTO {self.s}.breakers (action_type, failures, open, reason, reset_by)
                VALUES ($1, $2, $3, $4, $5) ON CONFLICT (action_type) DO UPDATE SET
                failures = $2, open = $3, reason = $4, changed_at = now(),
                reset_by = COALESCE($5, {self.s}.breakers.reset_by)""",
            b.action_type,
            b.failures,
            b.open,
            b.reason,
            reset_by,
        )

    async def insert_execution(self, conn: asyncpg.Connection, row: Row) -> None:
        cols = list(row)
        marks = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
        await conn.execute(
            f"INSERT INTO {self.s}.executions ({', '.join(cols)}) VALUES ({marks})", *row.values()
        )

    async def update_execution(
        self, conn: asyncpg.Connection, execution_id: str, **fields: Any
    ) -> None:
        sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(fields, start=2))
        await conn.execute(
            f"UPDATE {self.s}.executions SET {sets} WHERE id = $1", execution_id, *fields.values()
        )

    async def execution(
        self, conn: asyncpg.Connection | asyncpg.Pool, execution_id: str, *, lock: bool = False
    ) -> Row | None:
        row = await conn.fetchrow(
            f"SELECT * FROM {self.s}.executions WHERE id = $1" + (" FOR UPDATE" if lock else ""),
            execution_id,
        )
        return dict(row) if row else None

    async def executions(self, pool: asyncpg.Pool, incident_id: int) -> list[Row]:
        rows = await pool.fetch(
            f"SELECT * FROM {self.s}.executions WHERE incident_id = $1 ORDER BY requested_at, id",
            incident_id,
        )
        return [dict(r) for r in rows]

    async def pending(self, pool: asyncpg.Pool) -> list[Row]:
        rows = await pool.fetch(
            f"SELECT * FROM {self.s}.executions WHERE status = $1 ORDER BY requested_at", PENDING
        )
        return [dict(r) for r in rows]

    async def due_ids(self, conn: asyncpg.Connection, now: datetime) -> list[str]:
        """Pending approvals past their expiry, locked for this sweep."""
        rows = await conn.fetch(
            f"SELECT id FROM {self.s}.executions WHERE status = $1 AND expires_at <= $2 "
            "ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED",
            PENDING,
            now,
        )
        return [r["id"] for r in rows]

    async def stale_running(self, conn: asyncpg.Connection, before: datetime) -> list[Row]:
        rows = await conn.fetch(
            f"SELECT * FROM {self.s}.executions WHERE status = 'running' AND started_at < $1 "
            "FOR UPDATE SKIP LOCKED",
            before,
        )
        return [dict(r) for r in rows]

    async def log(self, pool: asyncpg.Pool, incident_id: int) -> list[Row]:
        rows = await pool.fetch(
            f"SELECT type, data FROM {self.s}.action_log WHERE incident_id = $1 ORDER BY seq",
            incident_id,
        )
        return [{"type": r["type"], **r["data"]} for r in rows]

    async def emit(
        self,
        conn: asyncpg.Connection,
        pub: Publisher,
        events: Sequence[ActionEvent],
        commands: Sequence[Command] = (),
    ) -> None:
        """Record action events in the log and put them (and commands) in the outbox."""
        messages: list[OutboxMessage] = []
        for ev in events:
            env = pub.envelope(ev, subject=f"incident/{ev.incident_id}")
            messages.append(pub.message(env, str(ev.incident_id)))
            await conn.execute(
                f"INSERT INTO {self.s}.action_log (incident_id, execution_id, type, data, at) "
                "VALUES ($1, $2, $3, $4, $5)",
                ev.incident_id,
                ev.execution_id,
                ev.type_name,
                ev.model_dump(mode="json"),
                ev.at,
            )
        for cmd in commands:
            messages.append(pub.message(pub.envelope(cmd.event), cmd.key))
        await self.outbox.add(conn, messages)
