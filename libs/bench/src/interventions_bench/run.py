"""One bench run: every phase in order on one broker and PostgreSQL."""

from __future__ import annotations

import logging

from rich.console import Console

from . import pipeline, replay, stack
from .infra import Infra
from .sizes import Sizes

Results = dict[str, float]
console = Console(stderr=True)


async def run(sizes: Sizes) -> tuple[Results, list[str]]:
    """All keys, and notes on the infrastructure used."""
    logging.basicConfig(level=logging.WARNING)
    inf = Infra.start()
    results: Results = {}
    try:
        console.print(f"[dim]{'; '.join(inf.notes)}; logs in {inf.root}[/]")
        console.print("[bold]watcher[/] and raw consumers ...")
        results.update(await pipeline.watcher_phase(inf, sizes))
        console.print("[bold]incident decisions[/] and raw inserts ...")
        decided, dsn = await pipeline.incidents_phase(inf, sizes)
        results.update(decided)
        console.print("[bold]replay[/], rebuild and raw reads ...")
        results.update(await replay.replay_phase(dsn))
        console.print("[bold]stack[/]: end to end, SSE fan-out, API list, memory ...")
        results.update(await stack.stack_phase(inf, sizes))
        return results, inf.notes
    finally:
        await inf.close()
