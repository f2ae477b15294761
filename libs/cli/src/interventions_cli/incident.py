"""`interventions timeline <id>` and `interventions state <id> --as-of T`, from the log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import asyncpg
import typer
from incidents.domain import Incident, fold, parse_event
from incidents.queries import describe
from incidents.readmodel import incident_stream
from interventions_eventstore import StoredEvent
from rich.console import Console
from rich.table import Table

from . import store
from .replay import DbOpt, SchemaOpt

IdArg = Annotated[int, typer.Argument(help="incident id")]


def load_incident(dsn: str | None, schema: str, incident_id: int) -> list[StoredEvent]:
    """The incident's stream; exits 1 with a clear message when it does not exist."""

    async def work(pool: asyncpg.Pool) -> list[StoredEvent]:
        return await store.load_stream(pool, schema, incident_stream(incident_id))

    events = store.run(dsn, work)
    if not events:
        typer.echo(f"incident {incident_id} has no events in {schema}.events", err=True)
        raise typer.Exit(1)
    return events


def event_time(e: StoredEvent) -> datetime:
    at = e.data.get("at")
    return datetime.fromisoformat(at) if isinstance(at, str) else e.recorded_at


def state_as_of(events: list[StoredEvent], instant: datetime) -> Incident | None:
    """The incident folded from the events that happened (`at`) at or before `instant`."""
    return fold(parse_event(e.type, e.data) for e in events if event_time(e) <= instant)


def relative(delta_seconds: float) -> str:
    """`+3m00s`, `+1h05m00s`, `-0m30s`."""
    sign = "-" if delta_seconds < 0 else "+"
    s = round(abs(delta_seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{sign}{h}h{m:02d}m{sec:02d}s" if h else f"{sign}{m}m{sec:02d}s"


def timeline(
    incident_id: IdArg, database_url: DbOpt = None, schema: SchemaOpt = "incidents"
) -> None:
    """Every event of the incident in order, with times relative to its opening."""
    events = load_incident(database_url, schema, incident_id)
    start = event_time(events[0])
    table = Table("v", "at", "T+", "by", "what", "why")
    for e in events:
        why = next(
            (str(e.data[k]) for k in ("reason", "notes", "text", "detail") if e.data.get(k)), ""
        )
        table.add_row(
            str(e.stream_version),
            event_time(e).isoformat(),
            relative((event_time(e) - start).total_seconds()),
            str(e.data.get("by", "system")),
            describe(e.type, e.data),
            why,
        )
    Console(width=200).print(table)


def state(
    incident_id: IdArg,
    as_of: Annotated[str, typer.Option("--as-of", help="RFC 3339, `now` or `2h` (ago)")] = "now",
    database_url: DbOpt = None,
    schema: SchemaOpt = "incidents",
) -> None:
    """The incident JSON as it was at --as-of (folded from the log)."""
    events = load_incident(database_url, schema, incident_id)
    instant = store.parse_time(as_of)
    inc = state_as_of(events, instant)
    if inc is None:
        typer.echo(f"incident {incident_id} did not exist yet at {instant.isoformat()}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(inc.to_json(), indent=2))


def register(app: typer.Typer) -> None:
    app.command("timeline")(timeline)
    app.command("state")(state)
