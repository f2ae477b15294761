"""Readiness of the services behind the gateway, reported on the gateway's /readyz."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def probe(
    client: httpx.AsyncClient, upstreams: dict[str, str], wait_s: float
) -> dict[str, dict[str, Any]]:
    """Each upstream's /readyz verdict: ready, HTTP status or the connection error."""

    async def one(base: str) -> dict[str, Any]:
        try:
            resp = await client.get(base + "/readyz", timeout=wait_s)
        except httpx.HTTPError as exc:
            return {"url": base, "ready": False, "error": type(exc).__name__}
        return {"url": base, "ready": resp.status_code == 200, "status": resp.status_code}

    names = list(upstreams)
    results = await asyncio.gather(*(one(upstreams[n]) for n in names))
    return dict(zip(names, results, strict=True))
