"""Bad-input suite: the watcher, incidents and gateway as processes on a broker of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from interventions_events import topics
from interventions_testkit.chaos import Stack, TopicTap


@pytest.fixture(scope="module")
async def stack(
    pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    s = Stack(
        tmp_path_factory.mktemp("badinput"),
        pg_admin_dsn,
        services=("incidents", "watcher", "playbooks", "gateway"),
    )
    try:
        await s.start()
        yield s
    finally:
        await s.stop()


@pytest.fixture(scope="module")
async def dlq(stack: Stack) -> AsyncIterator[TopicTap]:
    t = await TopicTap(stack.bootstrap, stack.prefix, [topics.DLQ]).start()
    yield t
    await t.stop()
