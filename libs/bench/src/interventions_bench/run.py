"""One bench run: every phase in order on one broker and PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from rich.console import Console

from . import pipeline, replay, stack
from .infra import Infra
from .sizes import Sizes

Results = dict[str, float]
console = Console(stderr=True)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    started = time.monotonic()
    console.print(f"[bold]{name}[/] ...")
    yield
    console.print(f"[dim]  {name}: {time.monotonic() - started:.1f} s[/]")


async def run(sizes: Sizes) -> tuple[Results, list[str]]:
    """All keys, and notes on the infrastructure used."""
    logging.basicConfig(level=logging.WARNING)
    inf = Infra.start()
    results: Results = {}
    try:
        console.print(f"[dim]{'; '.join(inf.notes)}; logs in {inf.root}[/]")
        with phase("watcher and raw consumers"):
            results.update(await pipeline.watcher_phase(inf, sizes))
        with phase("incident decisions and raw inserts"):
            inf.fresh_broker()
            await inf.drop_databases()
            decided, dsn = await pipeline.incidents_phase(inf, sizes)
            results.update(decided)
        with phase("replay, rebuild and raw reads"):
            results.update(await replay.replay_phase(dsn))
        with phase("stack: end to end, SSE fan-out, API list, memory"):
            inf.fresh_broker()
            await inf.drop_databases()
            results.update(await stack.stack_phase(inf, sizes))
        return results, inf.notes
    finally:
        await inf.close()
