"""FastStream batch handler: decode, then hand the batch to the service in one transaction."""

from __future__ import annotations

from faststream.kafka import KafkaMessage
from interventions_events import topics
from interventions_platform import kafka, metrics
from interventions_platform.runtime import Runtime

from .service import CONSUMER, NotifierService


def register(runtime: Runtime, service: NotifierService) -> None:
    """Subscribe to incidents and actions with the `notifier` consumer group."""
    names = (
        topics.full(topics.INCIDENTS, runtime.prefix),
        topics.full(topics.ACTIONS, runtime.prefix),
    )

    @runtime.broker.subscriber(*names, **kafka.subscriber_options(CONSUMER))  # type: ignore[untyped-decorator]
    async def on_incident_or_action(msg: KafkaMessage) -> None:
        records = kafka.records_of(msg)
        good, bad = kafka.decode_records(records)
        with metrics.HANDLER_SECONDS.labels(CONSUMER).time():
            await service.handle([env for _, env in good], bad)
        for rec in records:
            metrics.CONSUMED.labels(CONSUMER, rec.topic).inc()
        metrics.DEAD_LETTERS.labels(CONSUMER).inc(len(bad))
