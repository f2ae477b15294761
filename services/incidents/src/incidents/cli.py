"""`interventions projections ...`: rebuild the incident read model from the event log."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from interventions_eventstore import create_pool
from interventions_platform.env import RuntimeEnv
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .readmodel import ReadModel, rebuild_read_model

app = typer.Typer(no_args_is_help=True, help="Incident read models (projections).")
console = Console()
DbOpt = Annotated[str | None, typer.Option(help="PostgreSQL DSN (default: DATABASE_URL)")]
SchemaOpt = Annotated[str, typer.Option(help="the incident service's schema")]


@app.command()
def rebuild(database_url: DbOpt = None, schema: SchemaOpt = "incidents") -> None:
    """Re-project every incident and key row from the event log; print the content hash."""
    digest = asyncio.run(_rebuild(database_url or RuntimeEnv().database_url, schema))
    console.print(f"read model rebuilt; hash {digest}")


@app.command("hash")
def show_hash(database_url: DbOpt = None, schema: SchemaOpt = "incidents") -> None:
    """Print the content hash of the live read model."""
    digest = asyncio.run(_hash(database_url or RuntimeEnv().database_url, schema))
    console.print(f"read model hash {digest}")


async def _rebuild(dsn: str, schema: str) -> str:
    pool = await create_pool(dsn, min_size=1, max_size=2)
    columns = (
        TextColumn("replaying events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("replay", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return await rebuild_read_model(pool, schema, progress=progress)
    finally:
        await pool.close()


async def _hash(dsn: str, schema: str) -> str:
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await ReadModel(schema).content_hash(conn)
    finally:
        await pool.close()
