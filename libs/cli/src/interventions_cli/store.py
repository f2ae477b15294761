"""Read-only access to the incident event store for the admin commands (DATABASE_URL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import typer
from interventions_eventstore import StoredEvent, create_pool
from interventions_platform.durations import parse_duration
from interventions_platform.env import RuntimeEnv

T = TypeVar("T")
# business time of an event: its `at` (decision time), else when it was stored
EVENT_TIME = "coalesce((data->>'at')::timestamptz, recorded_at)"
_COLUMNS = (
    "global_position, stream_id, stream_version, event_id, type, schema_version, data, "
    "metadata, recorded_at"
)


def parse_time(value: str, now: datetime | None = None) -> datetime:
    """RFC 3339 (`2026-11-26T21:00:00Z`), `now`, or a duration meaning that long ago (`2h`)."""
    now = now or datetime.now(UTC)
    if value == "now":
        return now
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            return now - parse_duration(value)
        except (ValueError, TypeError):
            raise typer.BadParameter(
                f"{value!r} is not a time: use RFC 3339 (2026-11-26T21:00:00Z), now, or 2h"
            ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run(dsn: str | None, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Open a small pool on `dsn` (default DATABASE_URL), run `work`, close the pool."""

    async def main() -> T:
        url = dsn or RuntimeEnv().database_url
        try:
            pool = await create_pool(url, min_size=1, max_size=2)
        except (OSError, asyncpg.PostgresError) as exc:
            typer.echo(
                f"cannot reach PostgreSQL ({exc}); set DATABASE_URL, or run `make run` "
                "so its database URL is saved in .interventions/database-url",
                err=True,
            )
            raise typer.Exit(2) from None
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def stored(r: asyncpg.Record) -> StoredEvent:
    return StoredEvent(**{k: r[k] for k in _COLUMNS.split(", ")})


async def count_range(
    pool: asyncpg.Pool, schema: str, start: datetime, end: datetime, where: str, args: list[Any]
) -> int:
    sql = (
        f"SELECT count(*) FROM {schema}.events WHERE {EVENT_TIME} >= $1 AND {EVENT_TIME} < $2"
        f"{where}"
    )
    return int(await pool.fetchval(sql, start, end, *args))


def filters(types: Sequence[str], streams: Sequence[str]) -> tuple[str, list[Any]]:
    """Extra WHERE clauses (after $1, $2) for event types and stream ids or prefixes."""
    where, args = "", []
    if types:
        args.append(list(types))
        where += f" AND type = ANY(${len(args) + 2})"
    if streams:
        args.append([s.replace("*", "%") for s in streams])
        where += f" AND stream_id LIKE ANY(${len(args) + 2})"
    return where, args


async def read_range(
    pool: asyncpg.Pool,
    schema: str,
    start: datetime,
    end: datetime,
    *,
    types: Sequence[str] = (),
    streams: Sequence[str] = (),
    page: int = 1000,
) -> AsyncIterator[StoredEvent]:
    """Events whose time is in [start, end), in global (commit) order, page by page."""
    where, args = filters(types, streams)
    after = 0
    n = len(args) + 3
    sql = (
        f"SELECT {_COLUMNS} FROM {schema}.events WHERE {EVENT_TIME} >= $1 AND "
        f"{EVENT_TIME} < $2{where} AND global_position > ${n} ORDER BY global_position "
        f"LIMIT {page}"
    )
    while True:
        rows = await pool.fetch(sql, start, end, *args, after)
        for r in rows:
            yield stored(r)
        if len(rows) < page:
            return
        after = rows[-1]["global_position"]


async def load_stream(pool: asyncpg.Pool, schema: str, stream_id: str) -> list[StoredEvent]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.events WHERE stream_id = $1 ORDER BY stream_version",
        stream_id,
    )
    return [stored(r) for r in rows]
