"""`read_whole` against the real broker: what the chaos relay oracle reads again."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from interventions_testkit.chaos import read_whole


async def test_read_whole_returns_every_record_of_every_partition(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    sent = {f"record-{i}".encode() for i in range(40)}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i, value in enumerate(sorted(sent)):
            await producer.send(f"{topic_prefix}incidents", value, key=f"k{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    got = await read_whole(kafka_bootstrap, topic_prefix, "incidents", quiet_s=1.0)
    assert sorted(got) == sorted(sent)
