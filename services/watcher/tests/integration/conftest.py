"""A real watcher process against the real broker and PostgreSQL, plus helpers to publish
signals and collect what the watcher publishes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from interventions_events import topics
from interventions_platform import kafka
from interventions_platform.embedded import free_port
from interventions_testkit.processes import ServiceProcess


def cloudevent(type_: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id or str(uuid.uuid4()),
            "source": "test",
            "type": type_,
            "time": "2026-11-26T21:00:00Z",
            "datacontenttype": "application/json",
            "schemaversion": 1,
            "data": data,
        }
    )


@dataclass
class Got:
    """One record the watcher published."""

    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def doc(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.value)
        return parsed


@dataclass
class Collector:
    """Reads `detections` and `dlq` from the start, in the background."""

    records: list[Got] = field(default_factory=list)

    def of(self, topic: str, type_: str | None = None) -> list[Got]:
        out = [g for g in self.records if g.topic.endswith(topic)]
        return [g for g in out if g.headers.get("ce_type") == type_] if type_ else out

    async def wait(self, ok: Callable[[], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not ok():
                await asyncio.sleep(0.1)


@dataclass
class Stack:
    bootstrap: str
    prefix: str
    proc: ServiceProcess
    got: Collector
    send: Callable[[str, list[tuple[str, bytes]]], Awaitable[None]]


async def _collect(bootstrap: str, prefix: str, got: Collector) -> None:
    consumer = AIOKafkaConsumer(
        topics.full(topics.DETECTIONS, prefix),
        topics.full(topics.DLQ, prefix),
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                got.records.extend(
                    Got(r.topic, r.key, r.value or b"", {k: v.decode() for k, v in r.headers or ()})
                    for r in records
                )
    finally:
        await consumer.stop()


def write_settings(path: Path, watcher: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"interventions": {"watcher": watcher}}))
    return path


@pytest.fixture
def watcher_settings() -> dict[str, Any]:
    """Override per test with @pytest.mark.parametrize(..., indirect=True) or a fixture."""
    return {"interval": "1h", "session_timeout": "4s"}


@pytest.fixture
async def stack(
    kafka_bootstrap: str,
    database_url: str,
    topic_prefix: str,
    tmp_path: Path,
    watcher_settings: dict[str, Any],
) -> AsyncIterator[Stack]:
    await kafka.ensure_topics(kafka_bootstrap, topic_prefix)
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "INTERVENTIONS_SERVICE_PORT": str(port),
        "INTERVENTIONS_CONFIG": str(write_settings(tmp_path / "settings.yaml", watcher_settings)),
    }
    proc = ServiceProcess("watcher", env, port=port, log_dir=tmp_path).start()
    got = Collector()
    reader = asyncio.create_task(_collect(kafka_bootstrap, topic_prefix, got))
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=False, linger_ms=5
    )
    await producer.start()

    async def send(topic: str, items: list[tuple[str, bytes]]) -> None:
        futures = [
            await producer.send(topics.full(topic, topic_prefix), value=v, key=k.encode())
            for k, v in items
        ]
        await asyncio.gather(*futures)

    try:
        await asyncio.to_thread(proc.wait_ready, 60)
        yield Stack(kafka_bootstrap, topic_prefix, proc, got, send)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await producer.stop()
        await asyncio.to_thread(proc.stop)
