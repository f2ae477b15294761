"""The SSE hub: every replica tails the shared `sse_log` table and fans frames out to its own
clients. Frame ids are log positions, so any replica can resume any client from its
Last-Event-ID. Each client has a bounded queue; one that falls behind is disconnected
(it reconnects with Last-Event-ID and misses nothing) and never slows the others."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from interventions_eventstore import keeps_session
from interventions_platform.runtime import Runtime
from prometheus_client import Counter, Gauge
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .settings import SseSection
from .store import SSE_CHANNEL

log = logging.getLogger(__name__)
CLIENTS = Gauge("notifier_sse_clients", "Connected SSE clients")
DROPPED = Counter("notifier_sse_dropped_total", "SSE clients dropped for falling behind")


def frame(event: str, data: Any, event_id: int | None = None, retry_ms: int | None = None) -> bytes:
    """One SSE frame: optional id and retry, the event name, one data line, blank line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    if retry_ms is not None:
        head += f"retry: {retry_ms}\n"
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


class Client:
    def __init__(self, buffer: int):
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=buffer)
        self.dropped = asyncio.Event()


class Hub:
    """A lifespan hook: tails the log from the latest position at start-up."""

    def __init__(self, runtime: Runtime, cfg: SseSection):
        self.runtime = runtime
        self.schema = runtime.schema
        self.cfg = cfg
        self.cursor = 0
        self.clients: set[Client] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.db

    async def start(self) -> None:
        self.cursor = int(
            await self.pool.fetchval(
                f"SELECT coalesce(max(position), 0) FROM {self.schema}.sse_log"
            )
        )
        self._tasks = [
            asyncio.create_task(self._tail(), name="sse-tail"),
            asyncio.create_task(self._prune(), name="sse-prune"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in list(self.clients):
            client.dropped.set()

    def subscribe(self) -> tuple[Client, int]:
        """A new client and the position its live feed starts after (no await in between,
        so replay up to that position plus the live feed leave no gap)."""
        client = Client(self.cfg.client_buffer)
        self.clients.add(client)
        CLIENTS.set(len(self.clients))
        return client, self.cursor

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)
        CLIENTS.set(len(self.clients))

    async def replay(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        """One page of stored frames in (after, upto], oldest first."""
        rows = await self.pool.fetch(
            f"SELECT position, event, data FROM {self.schema}.sse_log WHERE position > $1 "
            "AND position <= $2 ORDER BY position LIMIT $3",
            after,
            upto,
            self.cfg.replay_limit,
        )
        return [(r["position"], frame(r["event"], r["data"], r["position"])) for r in rows]

    def _dispatch(self, data: bytes) -> None:
        for client in list(self.clients):
            try:
                client.queue.put_nowait(data)
            except asyncio.QueueFull:
                DROPPED.inc()
                self.unsubscribe(client)
                client.dropped.set()

    async def _tail(self) -> None:
        while True:
            try:
                await self._listen_and_tail()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("sse tail: database unavailable, retrying: %s", exc)
                await asyncio.sleep(1.0)

    async def _listen_and_tail(self) -> None:
        async with self.pool.acquire() as conn:
            keeps_session(conn)  # UNLISTEN on release
            await conn.add_listener(SSE_CHANNEL, self._notified)
            try:
                while True:
                    self._wake.clear()
                    if await self._read(conn) == 0:
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(
                                self._wake.wait(), self.cfg.poll_interval.total_seconds()
                            )
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(SSE_CHANNEL, self._notified)

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _read(self, conn: asyncpg.Connection) -> int:
        # pages of half a client buffer, yielding between them: a healthy client drains its
        # queue in that turn, so only one that stopped reading can overflow
        page = max(1, self.cfg.client_buffer // 2)
        rows = await conn.fetch(
            f"SELECT position, event, data FROM {self.schema}.sse_log WHERE position > $1 "
            "ORDER BY position LIMIT $2",
            self.cursor,
            page,
        )
        for r in rows:  # dispatch and move the cursor together, with no await between
            self._dispatch(frame(r["event"], r["data"], r["position"]))
            self.cursor = r["position"]
        await asyncio.sleep(0)
        return len(rows)

    async def _prune(self) -> None:
        while True:
            await asyncio.sleep(300)
            with contextlib.suppress(Exception):
                await self.pool.execute(
                    f"DELETE FROM {self.schema}.sse_log WHERE created_at < now() - $1::interval",
                    self.cfg.retention,
                )


class SseResponse(StreamingResponse):
    """Streams one client's frames; on overflow or disconnect the stream simply ends."""

    def __init__(self, hub: Hub, last_event_id: int | None):
        super().__init__(
            iter(()),
            media_type="text/event-stream",
            headers={
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                "Connection": "keep-alive",
            },
        )
        self.hub = hub
        self.last_event_id = last_event_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client, live_from = self.hub.subscribe()
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            tasks = {
                asyncio.create_task(self._pump(send, client, live_from)),
                asyncio.create_task(_disconnected(receive)),
                asyncio.create_task(client.dropped.wait()),
            }
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:  # a pump stuck in send() on a full socket is cancelled here
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            self.hub.unsubscribe(client)

    async def _pump(self, send: Send, client: Client, live_from: int) -> None:
        hello = {"at": datetime.now(UTC).isoformat(), "position": live_from}
        await _body(send, frame("connected", hello, retry_ms=2000))
        after = live_from if self.last_event_id is None else self.last_event_id
        while after < live_from:
            page = await self.hub.replay(after, live_from)
            if not page:
                break  # older than the retention window: nothing more to replay
            for position, data in page:
                await _body(send, data)
                after = position
        beat = self.hub.cfg.heartbeat.total_seconds()
        while True:
            try:
                data = await asyncio.wait_for(client.queue.get(), beat)
            except TimeoutError:
                data = frame("heartbeat", {"at": datetime.now(UTC).isoformat()})
            await _body(send, data)


async def _body(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
