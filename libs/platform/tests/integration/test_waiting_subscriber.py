"""A batch subscriber made to wait for records (`kafka.wait_for_records`) goes round rarely
when idle, still hands over a record as soon as it is fetched, and stops at once, against the
real broker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker, KafkaMessage
from interventions_platform import kafka


async def test_an_idle_subscriber_waits_and_a_record_still_goes_through_at_once(
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    topic = f"{topic_prefix}waiting"
    broker = KafkaBroker(kafka_bootstrap, logger=None, apply_types=False)
    got: asyncio.Queue[float] = asyncio.Queue()

    @broker.subscriber(topic, **kafka.subscriber_options("waiting-group"))  # type: ignore[untyped-decorator]
    async def on_batch(msg: KafkaMessage) -> None:
        got.put_nowait(time.perf_counter())

    kafka.wait_for_records(broker)
    [sub] = broker.subscribers
    assert isinstance(sub, kafka.WaitingBatchSubscriber)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    await broker.start()
    try:
        consumer: Any = sub.consumer
        assert isinstance(consumer, AIOKafkaConsumer)
        await (await producer.send(topic, b"first", partition=0))
        async with asyncio.timeout(60):
            await got.get()  # the group has joined and the loop runs

        calls = 0
        getmany = consumer.getmany

        async def counted(*args: Any, **kw: Any) -> Any:
            nonlocal calls
            calls += 1
            return await getmany(*args, **kw)

        consumer.getmany = counted
        await asyncio.sleep(2.0)
        # FastStream's own loop (getmany 10 ms, then a 10 ms sleep) went round ~100 times here
        assert calls <= 4, f"an idle subscriber polled {calls} times in 2 s"

        latencies = []
        for _ in range(5):
            sent = time.perf_counter()
            await (await producer.send(topic, b"next", partition=0))
            async with asyncio.timeout(10):
                latencies.append(await got.get() - sent)
        # one held fetch of the broker (50 ms) plus the handler, far below the idle wait
        assert max(latencies) < kafka.IDLE_WAIT_MS / 1000 / 2, latencies
    finally:
        await producer.stop()
        started = time.perf_counter()
        await broker.stop()
    assert time.perf_counter() - started < kafka.IDLE_WAIT_MS / 1000 * 5
