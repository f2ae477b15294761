"""Reading a whole event log fast, for replays and rebuilds: pages of raw rows in global order,
`data` left as JSON text for the caller to decode, and the next page already requested from
PostgreSQL while the caller works on the current one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence

import asyncpg

from .db import ident

# (global_position, stream_id, type, data as JSON text); asyncpg Records unpack like tuples
RawRow = tuple[int, str, str, str]


async def scan_raw(
    conn: asyncpg.Connection, schema: str, *, after: int = 0, page: int = 2000
) -> AsyncGenerator[Sequence[asyncpg.Record], None]:
    """Every event after global position `after`, `page` rows at a time, as RawRows. The
    connection is busy until the iteration ends (it may be inside the caller's transaction);
    iterate under `contextlib.aclosing` when the loop may stop early."""
    sql = (
        f"SELECT global_position, stream_id, type, data::text FROM {ident(schema)}.events "
        "WHERE global_position > $1 ORDER BY global_position LIMIT $2"
    )
    rows = await conn.fetch(sql, after, page)
    while rows:
        ahead = asyncio.ensure_future(conn.fetch(sql, rows[-1][0], page))
        await asyncio.sleep(0)  # the query goes out now; the server runs it during the yield
        try:
            yield rows
        except GeneratorExit:  # closed early: let the query finish so the connection is usable
            with contextlib.suppress(Exception):
                await ahead
            raise
        rows = await ahead
