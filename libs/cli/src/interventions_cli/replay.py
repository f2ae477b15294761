"""`interventions replay`: the incident store's events in a time range, in global order."""

from __future__ import annotations

import json
from typing import Annotated, Any

import asyncpg
import typer
from interventions_eventstore import StoredEvent
from rich.console import Console
from rich.table import Table

from . import store
from .progress import bar

DbOpt = Annotated[str | None, typer.Option(help="PostgreSQL DSN (default: DATABASE_URL)")]
SchemaOpt = Annotated[str, typer.Option(help="the incident service's schema")]


def event_json(e: StoredEvent) -> dict[str, Any]:
    return {
        "position": e.global_position,
        "stream": e.stream_id,
        "version": e.stream_version,
        "type": e.type,
        "id": e.event_id,
        "at": e.data.get("at"),
        "recorded_at": e.recorded_at.isoformat(),
        "data": e.data,
        "metadata": e.metadata,
    }


def _summary(e: StoredEvent) -> str:
    d = e.data
    for k in ("decision", "step", "resolution", "severity", "reason", "text"):
        if d.get(k):
            return f"{k}={d[k]}"
    return ""


def replay(
    start: Annotated[str, typer.Option("--from", help="RFC 3339, `now` or `2h` (ago)")],
    end: Annotated[str, typer.Option("--to", help="RFC 3339, `now` or `2h` (ago)")] = "now",
    types: Annotated[list[str] | None, typer.Option("--type", help="event type (repeat)")] = None,
    streams: Annotated[
        list[str] | None, typer.Option("--stream", help="stream id, * wildcard (repeat)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json (one per line)")] = "table",
    database_url: DbOpt = None,
    schema: SchemaOpt = "incidents",
) -> None:
    """Print the events whose time (`at`, else recorded_at) is in [--from, --to), in order."""
    if fmt not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    t1, t2 = store.parse_time(start), store.parse_time(end)

    async def work(pool: asyncpg.Pool) -> list[StoredEvent]:
        where, args = store.filters(types or [], streams or [])
        total = await store.count_range(pool, schema, t1, t2, where, args)
        out: list[StoredEvent] = []
        with bar("reading events", total, enabled=fmt == "table") as advance:
            async for e in store.read_range(
                pool, schema, t1, t2, types=types or [], streams=streams or []
            ):
                out.append(e)
                advance(1)
        return out

    events = store.run(database_url, work)
    if fmt == "json":
        for e in events:
            typer.echo(json.dumps(event_json(e), default=str))
        return
    table = Table("pos", "at", "stream", "v", "type", "detail")
    for e in events:
        table.add_row(
            str(e.global_position),
            str(e.data.get("at") or e.recorded_at.isoformat()),
            e.stream_id,
            str(e.stream_version),
            e.type,
            _summary(e),
        )
    Console(width=200).print(table)
    typer.echo(f"{len(events)} event(s)")


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
