"""Process A of the smoke test: publish one EvalRunCompleted through FastStream."""

import asyncio
import os

from faststream.kafka import KafkaBroker
from interventions_events import Envelope, encode, topics
from interventions_events.signals import EvalRunCompleted


async def main() -> None:
    broker = KafkaBroker(os.environ["KAFKA_BOOTSTRAP_SERVERS"], enable_idempotence=False)
    await broker.start()
    env = Envelope(
        data=EvalRunCompleted(run_id=os.environ["RUN_ID"], agent="inbox.triage"),
        source="smoke/publisher",
        subject="inbox.triage",
    )
    await broker.publish(
        encode(env),
        topics.full(topics.SIGNALS_EVAL),
        key=b"inbox.triage",
        headers={"content-type": "application/cloudevents+json"},
    )
    await broker.stop()


asyncio.run(main())
