"""FastStream handler: detections, actions, issues and notifications, one batch at a time."""

from __future__ import annotations

from collections.abc import Callable

from faststream.kafka import KafkaMessage
from interventions_events import topics
from interventions_events.detections import DetectionData
from interventions_platform import kafka
from interventions_platform.runtime import Runtime

from .service import IncidentService
from .timeline_events import to_command

GROUP = "incidents"
TOPICS = (topics.DETECTIONS, topics.ACTIONS, topics.ISSUES, topics.NOTIFICATIONS)


def register(runtime: Runtime, service: Callable[[], IncidentService]) -> None:
    """Subscribe the service's consumer group to its four input topics."""
    names = [topics.full(t, runtime.prefix) for t in TOPICS]

    @runtime.broker.subscriber(*names, **kafka.subscriber_options(GROUP))  # type: ignore[untyped-decorator]
    async def on_events(msg: KafkaMessage) -> None:
        good, bad = kafka.decode_records(kafka.records_of(msg))
        dead = [kafka.dead_letter_message(b, GROUP, runtime.prefix) for b in bad]
        detections = [env for _, env in good if isinstance(env.data, DetectionData)]
        # heartbeats and events we do not record map to None and are skipped
        others = [(env.id, cmd) for _, env in good if (cmd := to_command(env.data)) is not None]
        await service().handle_detections(detections, dead, consumer=GROUP)
        if others:
            await service().record_external(others, (), consumer=GROUP)
