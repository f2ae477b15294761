"""A migrated incident store in a fresh database, for the in-process service tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from incidents.migrations import MIGRATIONS
from interventions_eventstore import CORE, create_pool, migrate


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, max_size=10)
    await migrate(p, "incidents", CORE)
    await migrate(p, "incidents", MIGRATIONS, component="incidents")
    yield p
    await p.close()
