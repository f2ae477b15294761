"""`send_batched` against a real broker: every record delivered once, a key's records on the
partition `send()` picks and in order, headers kept, a record larger than a batch sent alone
in its place."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from interventions_eventstore import send_batched

if TYPE_CHECKING:
    from conftest import ReadTopic


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        enable_idempotence=False,
        max_batch_size=16 * 1024,
        max_request_size=2 * 1024 * 1024,
    )
    await p.start()
    yield p
    await p.stop()


async def _topic(bootstrap: str, prefix: str) -> str:
    name = f"{prefix}batched-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def test_records_arrive_once_in_key_order_on_sends_partitions(
    producer: AIOKafkaProducer, kafka_bootstrap: str, topic_prefix: str, read_topic: ReadTopic
) -> None:
    topic = await _topic(kafka_bootstrap, topic_prefix)
    big = 10  # this one is larger than a whole batch (16 kB here)
    items = []
    for i in range(400):
        key = f"key-{i % 7}".encode()
        value = (b"x" * 40_000 if i == big else b"") + f"{i}".encode()
        items.append((topic, key, value, [("ce_id", f"id-{i}".encode())]))
    assert await send_batched(producer, items) == 400
    got = [
        (r.partition, r.key, r.value, list(r.headers))
        for r in await read_topic(topic, 400, max_partition_fetch_bytes=4 * 1024 * 1024)
    ]
    assert len(got) == 400
    by_key: dict[bytes, list[int]] = {}
    partition_of: dict[bytes, set[int]] = {}
    for partition, key, value, headers in got:
        n = int(value.lstrip(b"x"))
        assert headers == [("ce_id", f"id-{n}".encode())]
        by_key.setdefault(key, []).append(n)
        partition_of.setdefault(key, set()).add(partition)
    for key, partitions in partition_of.items():  # the partition send() picks for the key
        probe = await (await producer.send(topic, value=b"probe", key=key))
        assert partitions == {probe.partition}
    assert by_key == {f"key-{k}".encode(): list(range(k, 400, 7)) for k in range(7)}


async def test_its_batches_go_out_at_once_not_after_the_producers_linger(
    kafka_bootstrap: str, topic_prefix: str, read_topic: ReadTopic
) -> None:
    """Every batch is complete when handed over: it does not wait `linger_ms` for more (a
    10 s linger here; an open batch would hold each publish that long)."""
    topic = await _topic(kafka_bootstrap, topic_prefix)
    p = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=False, linger_ms=10_000
    )
    await p.start()
    try:
        await send_batched(p, [(topic, b"warm", b"0", [])])  # metadata fetched, connection open
        started = time.monotonic()
        items = [(topic, f"k{i}".encode(), f"{i}".encode(), []) for i in range(50)]
        assert await send_batched(p, items) == 50
        assert time.monotonic() - started < 5
    finally:
        await p.stop()
    assert len(await read_topic(topic, 51)) == 51
