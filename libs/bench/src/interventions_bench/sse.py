"""A lean SSE client on asyncio streams (a thousand of them must not cost the bench process
more CPU than the services it measures): records when each `incident_created` key arrives."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson

OnCreated = Callable[[str, float], None]


class SseClient:
    """One open `GET .../api/sse/events`; calls `on_created(key, perf_counter())`."""

    def __init__(self, url: str, token: str, on_created: OnCreated):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path
        self.token = token
        self.on_created = on_created
        self.connected = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self.task

    async def _run(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        try:
            writer.write(
                (
                    f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                raise RuntimeError(f"SSE stream refused: {status!r}")
            await self._read(reader)
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        event = b""
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("SSE stream closed")
            if line.startswith(b"event: "):
                event = line[7:].strip()
                if event == b"connected":
                    self.connected.set()
            elif line.startswith(b"data: ") and event == b"incident_created":
                at = time.perf_counter()
                data = orjson.loads(line[6:])
                self.on_created(str(data["incident"]["key"]), at)


async def open_clients(url: str, token: str, n: int, on_created: OnCreated) -> list[SseClient]:
    """`n` connected clients (each has seen its `connected` frame)."""
    clients = [SseClient(url, token, on_created) for _ in range(n)]
    for i in range(0, n, 100):  # connect in waves so the accept queue never overflows
        wave = clients[i : i + 100]
        for c in wave:
            c.start()
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in wave)), 60)
    return clients


async def close_clients(clients: list[SseClient]) -> None:
    await asyncio.gather(*(c.stop() for c in clients))
