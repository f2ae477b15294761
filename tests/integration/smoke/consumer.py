"""Process B of the smoke test: a FastStream batch consumer writing what it receives into
PostgreSQL through the inbox (so redelivery is harmless)."""

import asyncio
import os
import signal

from faststream.kafka import KafkaBroker, KafkaMessage
from interventions_events import topics
from interventions_eventstore import CORE, Inbox, create_pool, migrate
from interventions_platform import kafka


async def main() -> None:
    pool = await create_pool(os.environ["DATABASE_URL"])
    await migrate(pool, "smoke", [*CORE])
    await pool.execute("CREATE TABLE IF NOT EXISTS smoke.received (event_id text, run_id text)")
    inbox = Inbox("smoke", "smoke-consumer")
    broker = KafkaBroker(os.environ["KAFKA_BOOTSTRAP_SERVERS"], logger=None)

    @broker.subscriber(  # type: ignore[untyped-decorator]
        topics.full(topics.SIGNALS_EVAL), **kafka.subscriber_options("smoke")
    )
    async def on_signals(msg: KafkaMessage) -> None:
        good, _bad = kafka.decode_records(kafka.records_of(msg))
        async with pool.acquire() as conn, conn.transaction():
            new = await inbox.claim(conn, [env.id for _, env in good])
            rows = [(env.id, env.data.run_id) for _, env in good if env.id in new]  # type: ignore[attr-defined]
            await conn.executemany("INSERT INTO smoke.received VALUES ($1, $2)", rows)

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await broker.start()
    print("consumer ready", flush=True)
    await stop.wait()
    await broker.stop()
    await pool.close()


asyncio.run(main())
