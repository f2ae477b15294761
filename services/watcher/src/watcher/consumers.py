"""FastStream wiring: one batch subscriber for the four signal topics, group `watcher`."""

from __future__ import annotations

from faststream.kafka import KafkaMessage
from interventions_events import topics
from interventions_platform import kafka
from interventions_platform.runtime import Runtime

from .handler import CONSUMER, SignalHandler


def register(runtime: Runtime, handler: SignalHandler) -> None:
    names = [topics.full(t, runtime.prefix) for t in topics.SIGNAL_TOPICS]
    options = {
        **kafka.subscriber_options(CONSUMER),
        **handler.settings.watcher.subscriber_overrides(),
    }

    @runtime.broker.subscriber(*names, **options)  # type: ignore[untyped-decorator]
    async def on_signals(msg: KafkaMessage) -> None:
        await handler.handle(kafka.records_of(msg))
