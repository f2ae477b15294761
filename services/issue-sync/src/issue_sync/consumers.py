"""FastStream batch handler for `incidents` and `actions`: decode, delegate to Intake."""

from __future__ import annotations

from faststream.kafka import KafkaMessage
from interventions_events import topics
from interventions_platform import kafka
from interventions_platform.runtime import Runtime

from .service import CONSUMER, Intake


def register(runtime: Runtime, intake: Intake, overrides: dict[str, int]) -> None:
    """Subscribe the intake to both topics under the `issue-sync` consumer group."""
    names = (
        topics.full(topics.INCIDENTS, runtime.prefix),
        topics.full(topics.ACTIONS, runtime.prefix),
    )

    options = {**kafka.subscriber_options(CONSUMER), **overrides}

    @runtime.broker.subscriber(*names, **options)  # type: ignore[untyped-decorator]
    async def on_incident_or_action(msg: KafkaMessage) -> None:
        await intake.handle(kafka.records_of(msg))
