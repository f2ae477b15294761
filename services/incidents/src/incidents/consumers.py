"""FastStream handler: detections, actions, issues and notifications, one batch at a time."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable

from faststream.kafka import KafkaMessage
from interventions_events import topics
from interventions_events.codec import Decoded
from interventions_events.detections import DETECTION_TYPES
from interventions_platform import kafka, memory, metrics
from interventions_platform.runtime import Runtime

from . import sentinel
from .commands import Command
from .service import IncidentService
from .timeline_events import to_command

GROUP = "incidents"
# dlq: read only for the sentinel's dead-letter marks (never decoded)
TOPICS = (topics.DETECTIONS, topics.ACTIONS, topics.ISSUES, topics.NOTIFICATIONS, topics.DLQ)
# records per handler call when a backlog is waiting: one transaction decides them all, so
# the per-batch statements (inbox, key and incident reads, one read-model row per touched
# key) are shared by more detections; a light load still goes through in small batches.
# Against 2,000, in the bench's decisions phase (30,000 detections, 1,000 keys) 4,000 decided
# 10-20 % more a second; 8,000 no more than 4,000. The process's memory after a backlog grew
# with the batch (150,000 detections: 131 MB RSS at 2,000, 167 at 4,000, 223 at 5,000), most
# of it garbage in reference cycles that the raised thresholds below leave for a full
# collection: `memory.Backlog` collects once a backlog has drained (116 MB at 4,000, against
# 162 without it)
MAX_BATCH = 4000
# a 5,000-detection batch allocates well over 100,000 objects, almost none of them cyclic: at
# the default thresholds (700, 10, 10) it ran ~190 young and one or two full collections per
# batch, ~20 % of the CPU of a decision. A 2,000-detection batch holds tens of thousands at once,
# freed by reference counting when it ends; at 20,000 the young collections still ran about
# once a batch, each walking the batch's live objects. Per 150,000 decisions (gc.callbacks
# timing, ad-hoc): at 20,000, 56 young and 2 older collections, 309 ms; at 50,000, 5 young,
# 90 ms (~1.5 us less a decision); at 100,000, 2 young, 84 ms, but the process was left at
# 165 MB RSS instead of 135-138
GC_THRESHOLDS = (50_000, 20, 20)


def register(runtime: Runtime, service: Callable[[], IncidentService]) -> memory.Backlog:
    """Subscribe the service's consumer group to its input topics (and tune the
    collector for its batches, see `tune_gc`); the returned hook collects after a backlog."""
    tune_gc()
    names = [topics.full(t, runtime.prefix) for t in TOPICS]
    dlq_topic = topics.full(topics.DLQ, runtime.prefix)

    options = kafka.subscriber_options(GROUP, max_records=MAX_BATCH)
    backlog = memory.Backlog(runtime.spawn, full=MAX_BATCH // 2)

    @runtime.broker.subscriber(*names, **options)  # type: ignore[untyped-decorator]
    async def on_events(msg: KafkaMessage) -> None:
        with metrics.HANDLER_SECONDS.labels(GROUP).time():
            records = kafka.records_of(msg)
            good, bad = kafka.decode_records_fields(r for r in records if r.topic != dlq_topic)
            dead = [kafka.dead_letter_message(b, GROUP, runtime.prefix) for b in bad]
            detections, others = _split(env for _, env in good)
            if detections or dead:  # only other events: no empty transaction (3 round trips)
                await service().handle_detections(detections, dead)
            if others:
                await service().record_external(others, (), consumer=GROUP)
            await sentinel.observe(runtime, records, good)
        backlog.after(len(records))

    return backlog


def _split(
    envs: Iterable[Decoded],
) -> tuple[list[Decoded], list[tuple[str, Command]]]:
    """Detections, and the timeline commands of other services' events (heartbeats and
    events we do not record map to None and are skipped). One set lookup per detection:
    asking `to_command` of each first cost six ABC checks (~0.9 us per detection), and one
    `isinstance` ~600 instructions (see DETECTION_TYPES)."""
    detections: list[Decoded] = []
    others: list[tuple[str, Command]] = []
    for env in envs:
        if type(env.data) in DETECTION_TYPES:
            detections.append(env)
        elif (cmd := to_command(env.data)) is not None:
            others.append((env.id, cmd))
    return detections, others


def tune_gc() -> None:
    """Freeze what start-up allocated (modules, models, settings: never garbage, but scanned
    by every full collection) and collect young objects less often."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
