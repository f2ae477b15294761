"""FastStream wiring: one batch subscriber for the four signal topics, group `watcher`."""

from __future__ import annotations

import gc
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaMessage
from interventions_events import topics
from interventions_platform import kafka, memory
from interventions_platform.runtime import Runtime

from .handler import CONSUMER, SignalHandler

Batch = tuple[ConsumerRecord[Any, Any], ...]
# Records per batch at most. Each batch costs a failing-keys read and one state statement over
# every agent it saw (arrays built and encoded per agent): 2,500 rather than the platform's
# 1,000 took the bench's 388-agent stream from ~25.5 to ~21.5 us of CPU per signal (5,000:
# ~22.5, the batch's objects no longer fit the cache). A cap only: a trickle is handed over
# as soon as it is fetched (`kafka.wait_for_records`).
MAX_BATCH = 2500
# A batch holds ~25 tracked objects per signal until it is judged; at the default gen-0
# threshold (700) a collection ran every ~25 signals and gen-2 passes re-scanned the ~100,000
# start-up objects: about 5 us of 17 per signal in the decode (docs/watcher.md).
GC_GEN0_THRESHOLD = 20_000


def register(runtime: Runtime, handler: SignalHandler) -> memory.Backlog:
    """Subscribe group `watcher`; the returned hook collects after a backlog."""
    names = [topics.full(t, runtime.prefix) for t in topics.SIGNAL_TOPICS]
    options = {
        **kafka.subscriber_options(CONSUMER, max_records=MAX_BATCH),
        **handler.settings.watcher.subscriber_overrides(),
    }
    backlog = memory.Backlog(runtime.spawn, full=MAX_BATCH // 2)

    @runtime.broker.subscriber(*names, **options)  # type: ignore[untyped-decorator]
    async def on_signals(msg: KafkaMessage) -> None:
        raw = msg.raw_message
        records = raw if isinstance(raw, tuple) else (raw,)
        await handler.handle(records)
        backlog.after(len(records))

    return backlog


def tune_gc() -> None:
    """Freeze what start-up allocated (modules, models and settings live as long as the
    process: never scan them) and collect young objects less often."""
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
