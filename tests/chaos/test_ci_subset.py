"""The CI subset of the chaos suite: each fault under steady load, then every oracle."""

from __future__ import annotations

import asyncio

import pytest
from interventions_testkit.chaos import Stack, TopicTap
from interventions_testkit.chaos_runner import run_scenario

pytestmark = pytest.mark.timeout(600)


def keys(name: str, n: int) -> list[str]:
    return [f"chaos_{name}_{i}" for i in range(n)]


async def test_baseline_load_every_signal_decided_once(stack: Stack, tap: TopicTap) -> None:
    row = await run_scenario(
        stack,
        tap,
        "baseline",
        "300 sig / 10 keys",
        stack.send(300, keys("base", 10)),
        asyncio.sleep(0),
    )
    assert not row.problems, row
    assert row.losses == 0 and row.duplicates == 0
