"""Consumer lag (records behind the log end) is measured per group and topic from the live
consumers, against the real broker."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker, KafkaMessage
from interventions_platform import kafka
from interventions_platform.runtime import consumer_lags


async def test_lag_counts_the_records_a_stalled_consumer_has_not_reached(
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    topic = f"{topic_prefix}lag"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    futures = [await producer.send(topic, b"x", partition=0) for _ in range(100)]
    await asyncio.gather(*futures)
    await producer.stop()

    broker = KafkaBroker(kafka_bootstrap, logger=None, apply_types=False)
    first_batch, release = asyncio.Event(), asyncio.Event()
    options = {**kafka.subscriber_options("lag-group"), "max_records": 10}

    @broker.subscriber(topic, **options)  # type: ignore[untyped-decorator]
    async def on_batch(msg: KafkaMessage) -> None:
        first_batch.set()
        await release.wait()

    await broker.start()
    try:
        async with asyncio.timeout(60):
            await first_batch.wait()
        lags = await consumer_lags(broker)
        assert lags == [("lag-group", topic, 90)]
    finally:
        release.set()
        await broker.stop()
