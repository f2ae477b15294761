"""FastStream handler: detections, actions, issues and notifications, one batch at a time."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from faststream.kafka import KafkaMessage
from interventions_events import topics
from interventions_events.codec import Decoded
from interventions_events.detections import DETECTION_TYPES
from interventions_platform import kafka, metrics
from interventions_platform.runtime import Runtime

from . import sentinel
from .commands import Command
from .service import IncidentService
from .timeline_events import to_command

log = logging.getLogger(__name__)

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
# collection: `Backlog` collects once a backlog has drained (103 MB at 4,000)
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


def register(runtime: Runtime, service: Callable[[], IncidentService]) -> Backlog:
    """Subscribe the service's consumer group to its input topics (and tune the
    collector for its batches, see `tune_gc`); the returned hook collects after a backlog."""
    tune_gc()
    names = [topics.full(t, runtime.prefix) for t in TOPICS]
    dlq_topic = topics.full(topics.DLQ, runtime.prefix)

    options = kafka.subscriber_options(GROUP, max_records=MAX_BATCH)
    backlog = Backlog(runtime.spawn)

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


class Backlog:
    """Collects the garbage of a backlog once it has drained: a full collection (and the C
    allocator's free memory handed back) when no batch of at least half `MAX_BATCH` came for
    `quiet_s`. Not during the backlog: one a batch took 4.1 s of CPU for 150,000 decisions
    against 3.3-3.6 (one run each). Not under a light load either, which never fills a batch.
    A lifespan hook (`start` spawns the check)."""

    def __init__(self, spawn: Callable[[Any, str], object], quiet_s: float = 1.0):
        self.spawn = spawn
        self.full = MAX_BATCH // 2
        self.quiet_s = quiet_s
        self.last_full: float | None = None

    def after(self, size: int) -> None:
        if size >= self.full:
            self.last_full = time.monotonic()

    async def start(self) -> None:
        self.spawn(self._loop(), "backlog-collect")

    async def stop(self) -> None:
        """The loop is cancelled by Runtime.stop."""

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.quiet_s)
            self.collect_if_drained()

    def collect_if_drained(self) -> bool:
        last = self.last_full
        if last is None or time.monotonic() - last < self.quiet_s:
            return False
        self.last_full = None
        started = time.perf_counter()
        found = gc.collect()
        trim()
        log.info(
            "backlog drained: collected %d objects in %.0f ms",
            found,
            (time.perf_counter() - started) * 1000,
        )
        return True


def trim() -> None:
    """Hand the C allocator's free memory back to the system (glibc; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def tune_gc() -> None:
    """Freeze what start-up allocated (modules, models, settings: never garbage, but scanned
    by every full collection) and collect young objects less often."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
