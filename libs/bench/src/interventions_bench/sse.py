"""A lean SSE client on asyncio streams (a thousand of them must not cost the bench process
more CPU than the services it measures): records when each `incident_created` key arrives."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
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
            chunked = False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                chunked |= line.lower().startswith(b"transfer-encoding: chunked")
            await self._frames(_chunks(reader) if chunked else _raw(reader))
        finally:
            writer.close()

    async def _frames(self, body: AsyncIterator[bytes]) -> None:
        """Split the body into frames (blank-line separated), wherever its chunks break."""
        buffer = b""
        async for piece in body:
            buffer += piece
            *frames, buffer = buffer.split(b"\n\n")
            for f in frames:
                self._frame(f)

    def _frame(self, raw: bytes) -> None:
        event, data = b"", b""
        for line in raw.split(b"\n"):
            if line.startswith(b"event: "):
                event = line[7:]
            elif line.startswith(b"data: "):
                data = line[6:]
        if event == b"connected":
            self.connected.set()
        elif event == b"incident_created":
            at = time.perf_counter()
            self.on_created(str(orjson.loads(data)["incident"]["key"]), at)


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The payload of an HTTP/1.1 chunked body."""
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            raise ConnectionError("SSE stream ended")
        yield await reader.readexactly(size)
        await reader.readexactly(2)


async def _raw(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while piece := await reader.read(65536):
        yield piece
    raise ConnectionError("SSE stream closed")


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
