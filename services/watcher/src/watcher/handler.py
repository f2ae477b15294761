"""One batch of signals: decode, judge with the pure checks, publish detections and dead
letters in one pipelined send, record state in one transaction, then let offsets commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from interventions_events import Envelope, Event, utcnow
from interventions_eventstore import OutboxMessage
from interventions_platform import kafka, metrics, tracing
from interventions_platform.runtime import Runtime

from . import domain
from .domain import Detection
from .metrics import DETECTIONS
from .service import WatcherStore
from .settings import Settings

log = logging.getLogger(__name__)
CONSUMER = "watcher"
Origins = Mapping[str, tuple[str, str | None]]  # signal id -> (topic, traceparent)


class SignalHandler:
    """Turns signal batches into detections; never one broker round trip per signal."""

    def __init__(self, runtime: Runtime, settings: Settings):
        self.runtime = runtime
        self.settings = settings
        self._store: WatcherStore | None = None

    @property
    def store(self) -> WatcherStore:
        if self._store is None:
            self._store = WatcherStore(self.runtime.db, self.runtime.schema)
        return self._store

    async def handle(self, records: Sequence[kafka.Record]) -> list[Detection]:
        started = time.perf_counter()
        good, bad = kafka.decode_records(records)
        signals, wrong = self.split(good)
        bad.extend(wrong)
        failing = await self.store.failing_keys({domain.subject_of(e.data) for e in signals})
        findings, seen = domain.judge(
            [(e.id, e.time, e.data) for e in signals], self.settings, failing, utcnow()
        )
        dead = [kafka.dead_letter_message(b, CONSUMER, self.runtime.prefix) for b in bad]
        # only gathered when spans are exported: the hot path stays as it was
        origins = (
            {env.id: (rec.topic, env.traceparent) for rec, env in good}
            if tracing.exporting()
            else {}
        )
        for b in bad:
            log.warning(
                "dead-lettered %s[%d]@%d: %s",
                b.record.topic,
                b.record.partition,
                b.record.offset,
                b.reason,
            )

        async def publish(detections: list[Detection]) -> None:
            await self._send([*self.messages(detections, origins), *dead])

        if findings or seen:
            detections = await self.store.commit_batch(findings, seen, publish)
        else:
            detections = []
            await self._send(dead)
        self._count(records, detections, len(bad), time.perf_counter() - started)
        return detections

    def split(
        self, good: Sequence[tuple[kafka.Record, Envelope[Event]]]
    ) -> tuple[list[Envelope[Event]], list[kafka.Bad]]:
        """Signals, and valid events of other types that do not belong on a signal topic."""
        signals: list[Envelope[Event]] = []
        wrong: list[kafka.Bad] = []
        for rec, env in good:
            if isinstance(env.data, domain.SIGNAL_TYPES):
                signals.append(env)
            else:
                reason = f"{env.type} is not a signal; {rec.topic} carries only the pinned signals"
                wrong.append(kafka.Bad(rec, reason))
        return signals, wrong

    def messages(
        self, detections: Sequence[Detection], origins: Origins | None = None
    ) -> list[OutboxMessage]:
        """Detection records; with `origins`, each signal's detections are built inside a
        span continuing that signal's trace, so their envelopes carry it on."""
        if not origins:
            return [self._message(d, None) for d in detections]
        by_source: dict[str, list[Detection]] = {}
        for d in detections:
            by_source.setdefault(d.data.source_event_id, []).append(d)
        out: list[OutboxMessage] = []
        for source_id, group in by_source.items():
            topic, parent = origins.get(source_id, ("", None))
            with tracing.record_span(
                f"process {topic}", parent, destination=topic, message_id=source_id
            ):
                traceparent = tracing.current_traceparent()
                out.extend(self._message(d, traceparent) for d in group)
        return out

    def _message(self, d: Detection, traceparent: str | None) -> OutboxMessage:
        pub = self.runtime.pub
        env: Envelope[Event] = Envelope(
            data=d.data,
            source=pub.source,
            id=d.event_id,
            subject=d.data.key,
            traceparent=traceparent,
        )
        return pub.message(env, d.data.key)

    async def _send(self, messages: list[OutboxMessage]) -> None:
        if messages:
            await self.runtime.pub.send_all(messages)

    def _count(
        self,
        records: Sequence[kafka.Record],
        detections: Sequence[Detection],
        dead: int,
        seconds: float,
    ) -> None:
        metrics.HANDLER_SECONDS.labels(CONSUMER).observe(seconds)
        if records:
            metrics.CONSUMED.labels(CONSUMER, records[0].topic).inc(len(records))
        if dead:
            metrics.DEAD_LETTERS.labels(CONSUMER).inc(dead)
        for d in detections:
            DETECTIONS.labels(d.data.type_name).inc()
