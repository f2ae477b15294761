"""OpenAPI at /docs covers every pinned path, merged from the services behind the gateway."""

from __future__ import annotations

import asyncio
import re

import httpx
from gateway import routes

from ..conftest import Gateway


async def test_openapi_lists_every_pinned_path_and_method(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        doc = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    for route in routes.PINNED:
        assert route.method.lower() in doc["paths"].get(route.path, {}), route
    shapes = [re.sub(r"\{[^}]+\}", "{}", p) for p in doc["paths"]]
    assert len(shapes) == len(set(shapes)), "a path is listed twice under different names"
    for ops in ("/metrics", "/healthz", "/readyz"):
        assert ops in doc["paths"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert docs.status_code == 200 and "/openapi.json" in docs.text


async def test_docs_page_works_offline_with_its_own_assets(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        page = (await client.get("/docs")).text
        assets = re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', page)
        answers = [await client.get(a) for a in assets]
    assert "cdn.jsdelivr.net" not in page
    assert len(assets) == 2 and all(
        a.status_code == 200 and len(a.content) > 10_000 for a in answers
    )


async def test_the_upstream_documents_are_merged_in(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client, asyncio.timeout(10):
        while True:
            doc = (await client.get("/openapi.json")).json()
            if "/api/incidents/{id}/extras" in doc["paths"]:
                break
            await asyncio.sleep(0.2)
    assert doc["paths"]["/api/incidents"]["get"]["summary"] == "from the upstream"
    assert "Incident" in doc["components"]["schemas"]
    assert "/healthz" in doc["paths"]  # the gateway's own, not the upstream's
