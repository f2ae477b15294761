"""Consumer-side measurements: the raw aiokafka baselines, and a service's consumer group
catching up with a pre-loaded topic (timed from its first commit to its last)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from interventions_events import decode

log = logging.getLogger(__name__)


async def _partitions(bootstrap: str, topic_names: Sequence[str]) -> list[TopicPartition]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        return [
            TopicPartition(t, p)
            for t in topic_names
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
    finally:
        await consumer.stop()


async def read_all(
    bootstrap: str, topic_names: Sequence[str], total: int, *, parse: bool = False
) -> tuple[float, dict[TopicPartition, int]]:
    """A plain consumer reading `total` records from the start: (records per second, the
    next offset of each partition). With `parse`, each record is also validated into its
    typed event. (The ends come from reading: the Tansu broker's ListOffsets answers 1.)"""
    parts = await _partitions(bootstrap, topic_names)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning()
        ends = dict.fromkeys(parts, 0)
        seen, started = 0, time.perf_counter()
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                if parse:
                    for r in records:
                        decode(r.value or b"")
                seen += len(records)
                ends[tp] = records[-1].offset + 1
        return seen / (time.perf_counter() - started), ends
    finally:
        await consumer.stop()


async def committed(admin: AIOKafkaAdminClient, group: str, parts: Sequence[TopicPartition]) -> int:
    offsets = await admin.list_consumer_group_offsets(group, partitions=list(parts))
    return sum(max(m.offset, 0) for m in offsets.values())


async def group_rate(
    bootstrap: str,
    group: str,
    ends: dict[TopicPartition, int],
    *,
    within: float,
    on_tick: Callable[[int], None] | None = None,
) -> float:
    """Records per second the group committed, from its first commit to its last; the rate
    over the records committed after the first one (start-up and group join excluded)."""
    total = sum(ends.values())
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + within
        first: tuple[float, int] | None = None
        last_zero = time.perf_counter()
        while time.monotonic() < deadline:
            done = await committed(admin, group, list(ends))
            now = time.perf_counter()
            if on_tick is not None:
                on_tick(done)
            if done == 0:
                last_zero = now
            elif first is None:
                first = (now, done)
            if done >= total and first is not None:
                if done == first[1]:  # all between two polls (tiny loads): time since 0 seen
                    log.warning("%s committed all %d records between two polls", group, total)
                    return done / (now - last_zero)
                return (done - first[1]) / (now - first[0])
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{group} committed {done} of {total} records in {within:.0f}s")
    finally:
        await admin.close()
