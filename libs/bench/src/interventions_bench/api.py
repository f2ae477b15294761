"""The incident list through the gateway under concurrent clients (closed loop, each client
one keep-alive connection)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode, urlsplit

import orjson

from .stats import percentile

PATH = "/api/incidents"
PARAMS = {"status": "open", "limit": "50"}


async def _client(base: str, token: str, until: float, lat: list[float]) -> int:
    """One keep-alive HTTP/1.1 connection on asyncio streams (an httpx client cost the bench
    ~2-3 ms of CPU per request, as much as a service, on the same two cores)."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port, limit=1 << 22)
    request = (
        f"GET {PATH}?{urlencode(PARAMS)} HTTP/1.1\r\nhost: {url.netloc}\r\n"
        f"authorization: Bearer {token}\r\naccept: application/json\r\n\r\n"
    ).encode()
    errors = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            status, body = await _response(reader)
            if status != 200 or len(orjson.loads(body)["items"]) != 50:
                errors += 1
            lat.append((time.perf_counter() - started) * 1000)
    finally:
        writer.close()
    return errors


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one response; the services answer JSON with a content-length."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = dict(line.split(":", 1) for line in head[1:] if ":" in line)
    length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
    if length is None:
        raise RuntimeError(f"list answer without content-length: {head}")
    return status, await reader.readexactly(int(length))


async def list_load(base: str, token: str, clients: int, seconds: float) -> dict[str, float]:
    """api_list_req_per_s and api_list_p99_ms after a short warm-up."""
    await _client(base, token, time.perf_counter() + 0.5, [])
    lat: list[float] = []
    started = time.perf_counter()
    until = started + seconds
    errors = await asyncio.gather(*(_client(base, token, until, lat) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    if sum(errors):
        raise RuntimeError(f"{sum(errors)} of {len(lat)} list requests failed or came back short")
    return {"api_list_req_per_s": len(lat) / elapsed, "api_list_p99_ms": percentile(lat, 99)}
