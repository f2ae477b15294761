"""Security suite: one stack of real service processes, tokens for every role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from interventions_testkit.chaos import Stack, TopicTap


@pytest.fixture(scope="module")
async def stack(
    pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("security"), pg_admin_dsn)
    try:
        await s.start()
        yield s
    finally:
        await s.stop()


@pytest.fixture(scope="module")
async def tap(stack: Stack) -> AsyncIterator[TopicTap]:
    """Every record on every topic (tokens must never appear in one)."""
    from interventions_events import topics

    t = await TopicTap(stack.bootstrap, stack.prefix, list(topics.ALL_TOPICS)).start()
    yield t
    await t.stop()


def client(stack: Stack, role: str | None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {stack.tokens[role]}"} if role else {}
    return httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=15)


async def open_incident(stack: Stack, key_id: str) -> dict[str, Any]:
    """A fresh sev1 incident through the real pipeline."""
    sent = await stack.send(1, [key_id])
    assert sent.acked
    async with client(stack, "viewer") as c, asyncio.timeout(60):
        while True:
            resp = await c.get("/api/incidents", params={"key": f"INV_{key_id}"})
            items = resp.json().get("items", []) if resp.status_code == 200 else []
            if items:
                return dict(items[0])
            await asyncio.sleep(0.2)
