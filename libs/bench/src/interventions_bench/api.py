"""The incident list through the gateway under concurrent clients (closed loop, each client
one keep-alive connection)."""

from __future__ import annotations

import asyncio
import time

import httpx

from .stats import percentile

PATH = "/api/incidents"
PARAMS = {"status": "open", "limit": "50"}


async def _client(base: str, token: str, until: float, lat: list[float]) -> int:
    errors = 0
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        while time.perf_counter() < until:
            started = time.perf_counter()
            resp = await client.get(PATH, params=PARAMS)
            if resp.status_code != 200 or len(resp.json()["items"]) != 50:
                errors += 1
            lat.append((time.perf_counter() - started) * 1000)
    return errors


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
