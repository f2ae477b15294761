"""A topic reader for the tests that check what reached the broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

Records = list[ConsumerRecord[bytes, bytes]]
ReadTopic = Callable[..., Awaitable[Records]]


@pytest.fixture
def read_topic(kafka_bootstrap: str) -> ReadTopic:
    async def read(
        topic: str, count: int, *, settle_ms: int = 0, timeout: float = 60, **consumer: Any
    ) -> Records:
        """At least `count` records of `topic` from its start (a fresh group), then whatever
        else arrives within `settle_ms`."""
        c = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=f"g-{uuid.uuid4().hex[:6]}",
            enable_auto_commit=False,
            **consumer,
        )
        await c.start()
        out: Records = []
        try:
            async with asyncio.timeout(timeout):
                while len(out) < count:
                    for records in (await c.getmany(timeout_ms=500)).values():
                        out.extend(records)
            if settle_ms:
                for records in (await c.getmany(timeout_ms=settle_ms)).values():
                    out.extend(records)
        finally:
            await c.stop()
        return out

    return read
