"""Fixtures: a started Bus on the test's topic prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .harness import Bus


@pytest.fixture
async def bus(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Bus]:
    b = await Bus(kafka_bootstrap, topic_prefix).start()
    yield b
    await b.stop()
