"""`make demo`: publish the demo timeline to Kafka in real time, then keep sending healthy
traffic. Scenario notes are printed as they happen."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from interventions_events import Envelope, encode, topics
from interventions_platform.kafka import ensure_topics, producer

from .scenarios import timeline

SPEED = float(os.environ.get("INTERVENTIONS_DEMO_SPEED", "1"))


async def main() -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", topics.DEFAULT_PREFIX)
    await ensure_topics(bootstrap, prefix)
    kafka = producer(bootstrap)
    await kafka.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        cycle = 0
        while not stop.is_set():
            await _play(kafka, prefix, stop, first=cycle == 0)
            cycle += 1
    finally:
        await kafka.stop()


async def _play(kafka: object, prefix: str, stop: asyncio.Event, *, first: bool) -> None:
    started = time.monotonic()
    for step in timeline(seed=int(started)):
        if not first and step.note:
            continue  # after the first minute: healthy traffic only
        delay = step.at_s / SPEED - (time.monotonic() - started)
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return
            except TimeoutError:
                pass
        env = Envelope(data=step.signal, source="interventions/demo", subject=step.key)
        await kafka.send_and_wait(  # type: ignore[attr-defined]
            topics.full(step.signal.topic, prefix), encode(env), key=step.key.encode()
        )
        if step.note:
            print(f"demo t+{step.at_s:>4.1f}s  {step.note}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
