"""The real stack through the gateway: readiness and one OpenAPI document for all of it."""

from __future__ import annotations

import asyncio
import re

import httpx
from gateway import routes

from .conftest import Stack


async def test_openapi_lists_every_pinned_path_from_the_real_services(stack: Stack) -> None:
    shape = re.compile(r"\{[^}]+\}")
    async with httpx.AsyncClient(base_url=stack.url) as client, asyncio.timeout(20):
        while True:
            doc = (await client.get("/openapi.json")).json()
            described = {
                (m, shape.sub("{}", p)): op
                for p, item in doc["paths"].items()
                for m, op in item.items()
            }
            if all(
                "schema not fetched" not in op.get("description", "") for op in described.values()
            ):
                break
            await asyncio.sleep(0.5)
    for route in routes.PINNED:
        assert (route.method.lower(), shape.sub("{}", route.path)) in described, route


async def test_the_gateway_readyz_sees_every_service(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as client:
        body = (await client.get("/readyz")).json()
    for name in ("incidents", "watcher", "playbooks", "notifier"):
        assert body["upstreams"][name]["ready"] is True, body
