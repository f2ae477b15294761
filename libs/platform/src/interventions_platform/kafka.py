"""Kafka plumbing: pipelined producer, topic set-up, batch decoding and the dead-letter path.

Consumers are FastStream batch subscribers (see `subscriber_options`); the handler gets the raw
records, decodes them with our codec, dead-letters the bad ones and processes the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any, NamedTuple, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage
from interventions_events import Envelope, Event, InvalidEvent, decode, encode, topics
from interventions_events.codec import Fields, decode_fields, document
from interventions_eventstore import OutboxMessage, send_batched

from . import commits, metrics, tracing

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 4
# Partitions of each pinned topic the platform creates itself (a service that finds it missing;
# so the embedded broker of `make run`, the tests and the bench): a third of what
# docker-compose and deploy/k8s give it (12, 6 or 3; tests/deploy checks the proportion).
# Every consumer's fetch names every partition it is assigned, idle or not, and the embedded
# broker's CPU per empty fetch grows with them: four idle consumers took 5.1-6.2 % of a core
# with one partition each, 10.7 % with two topics' 8, 14.2-20.2 % with four topics' 16, i.e.
# ~0.7, ~1.3 and 1.8-2.5 ms a fetch at ~20 fetches a second each (fetch_max_wait_ms 50), on a
# slow machine. With 4 for every topic the incident service's fetch named 20 partitions, now 11.
PARTITIONS = {
    **dict.fromkeys(topics.SIGNAL_TOPICS, 4),
    topics.DETECTIONS: 4,
    topics.INCIDENTS: 4,
    topics.ACTIONS: 2,
    topics.NOTIFICATIONS: 2,
    topics.ISSUES: 2,
    topics.COMMANDS_EVAL: 1,
    topics.COMMANDS_PLANNER: 1,
    topics.DLQ: 1,
}


def producer(bootstrap: str, **kw: Any) -> AIOKafkaProducer:
    """A producer tuned for pipelining (no idempotence: the Tansu broker lacks it; the outbox
    and idempotent consumers make it unnecessary)."""
    opts: dict[str, Any] = dict(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=2,
        enable_idempotence=False,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )
    opts.update(kw)
    return AIOKafkaProducer(**opts)


def subscriber_options(group_id: str, *, max_records: int = 1000) -> dict[str, Any]:
    """Options for `broker.subscriber(...)`: batch, offsets committed after the handler (in
    the background, see `commits`), redelivery on unhandled errors, earliest on a new group,
    the message itself for the handler (our codec decodes once). A short session (6 s) moves
    a dead replica's partitions quickly and forms a new group quickly (the embedded broker's
    first join waits about half a session)."""
    return dict(
        parser=parse_batch,
        decoder=undecoded,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        # FastStream's poll (getmany for this long, then the same sleep when it found nothing);
        # the services' subscribers wait for records instead (`wait_for_records`, at start),
        # so only a broker started outside `Runtime` polls
        batch_timeout_ms=10,
        # aiokafka's default 500 ms: the Tansu broker holds an empty fetch ~200 ms even when
        # records arrive meanwhile, which every consumer hop added to end-to-end latency
        fetch_max_wait_ms=50,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        max_poll_interval_ms=300_000,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
    )


# How long one idle getmany waits before the consume loop goes round again. A record that
# arrives is returned at once whatever this is (aiokafka wakes the waiting getmany when a fetch
# brings records); stopping cancels the wait.
IDLE_WAIT_MS = 1000


class WaitingBatchSubscriber(BatchSubscriber):
    """FastStream's batch subscriber, waiting for records instead of polling for them.

    FastStream's `get_msg` calls `getmany(timeout_ms=batch_timeout_ms)` and, when that found
    nothing, sleeps `batch_timeout_ms` more. A record arriving during that sleep waited it out
    (up to 10 ms a hop), and an idle consumer went round ~50 times a second. Here one getmany
    waits up to `IDLE_WAIT_MS` and returns as soon as records are fetched."""

    __slots__ = ()

    async def get_msg(self, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[Any, Any], ...]:
        got = await consumer.getmany(timeout_ms=IDLE_WAIT_MS, max_records=self.max_records)
        return tuple(chain.from_iterable(got.values()))  # empty: the loop goes round


def wait_for_records(broker: KafkaBroker) -> None:
    """Make every batch subscriber of `broker` a `WaitingBatchSubscriber` (before it starts;
    same slots, so only the class changes)."""
    for sub in broker.subscribers:
        if type(sub) is BatchSubscriber:
            sub.__class__ = WaitingBatchSubscriber


Batch = tuple[ConsumerRecord[Any, Any], ...]
Parse = Callable[[Batch], Awaitable[StreamMessage[Any]]]


async def parse_batch(records: Batch, parse: Parse) -> StreamMessage[Any]:
    """FastStream's batch parser copies every record's value and decodes every record's
    headers into a dict, none of which a handler here reads (they take `raw_message`): let it
    parse the first record only, then hand on the whole batch. Its ack notes the batch's
    offsets for a background commit (`commits`), its nack rewinds as FastStream's does."""
    msg = await parse(records[:1])
    msg.raw_message = records
    consumer = getattr(msg, "consumer", None)
    if isinstance(consumer, AIOKafkaConsumer):
        msg.consumer = commits.BatchAck(commits.DeferredCommits.of(consumer), records)  # type: ignore[attr-defined]
    return msg


async def undecoded(msg: StreamMessage[Any]) -> Any:
    """The handler's argument: the message itself. The broker applies no types (no per-batch
    dependency injection: it resolved the `KafkaMessage` parameter with a synchronous helper
    run on a worker thread, a thread hop per batch), and FastStream's default decoder would
    JSON-parse every body only for the result to go unused; our codec decodes once."""
    return msg


class Record(NamedTuple):
    """One consumed record, decoded or not (a tuple: a quarter of a frozen dataclass's
    0.88 us to build, once per consumed record)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int = 0  # ms since the epoch, as the broker gave it (0: none)


def records_of(msg: KafkaMessage) -> list[Record]:
    raw = msg.raw_message
    items = raw if isinstance(raw, list | tuple) else [raw]
    new = tuple.__new__  # a C call; `Record(...)` runs the NamedTuple's Python `__new__`
    return [
        new(
            Record,
            (
                r.topic,
                r.partition,
                r.offset,
                r.key,
                r.value or b"",
                tuple(r.headers or ()),
                r.timestamp or 0,
            ),
        )
        for r in items
    ]


@dataclass(frozen=True, slots=True)
class Bad:
    record: Record
    reason: str


def decode_records(
    records: Iterable[Record],
) -> tuple[list[tuple[Record, Envelope[Event]]], list[Bad]]:
    """Split a batch into typed envelopes and invalid records with their reasons."""
    return _decoded(records, decode)


def decode_records_fields(
    records: Iterable[Record],
) -> tuple[list[tuple[Record, Fields]], list[Bad]]:
    """`decode_records` for a hot consumer: the same checks and reasons, each event's
    attributes as a tuple instead of an Envelope (5.4 us a detection instead of 7.4)."""
    return _decoded(records, decode_fields)


D = TypeVar("D")


def _decoded(
    records: Iterable[Record], decode_one: Callable[[bytes], D]
) -> tuple[list[tuple[Record, D]], list[Bad]]:
    good: list[tuple[Record, D]] = []
    bad: list[Bad] = []
    for rec in records:
        try:
            good.append((rec, decode_one(rec.value)))
        except InvalidEvent as exc:
            bad.append(Bad(rec, exc.reason))
    return good, bad


# the producer refuses requests over max_request_size (1 MiB by default); keep the DLQ record
# well under it, leaving room for the key, the headers and the record batch overhead
DLQ_MAX_VALUE_BYTES = 900_000


def dead_letter_message(bad: Bad, consumer: str, prefix: str) -> OutboxMessage:
    """The DLQ record: original bytes (cut to a publishable size, said so in headers), the
    reason and origin in headers."""
    rec = bad.record
    headers = [
        ("dlq-reason", bad.reason[:2000]),
        ("dlq-consumer", consumer),
        ("dlq-topic", rec.topic),
        ("dlq-partition", str(rec.partition)),
        ("dlq-offset", str(rec.offset)),
    ]
    value = rec.value
    if len(value) > DLQ_MAX_VALUE_BYTES:
        # an unpublishable dead letter would stall the consumer on this record forever
        headers += [("dlq-truncated", "true"), ("dlq-original-bytes", str(len(value)))]
        value = value[:DLQ_MAX_VALUE_BYTES]
    return OutboxMessage(
        topic=topics.full(topics.DLQ, prefix), value=value, key=rec.key, headers=headers
    )


class Publisher:
    """Pipelined publishing: send many, await all acks once."""

    def __init__(self, kafka: AIOKafkaProducer, source: str, prefix: str):
        self.kafka = kafka
        self.source = source
        self.prefix = prefix

    def envelope(self, data: Event, *, subject: str | None = None) -> Envelope[Event]:
        return Envelope(
            data=data,
            source=self.source,
            subject=subject,
            traceparent=tracing.current_traceparent(),
        )

    def message(self, env: Envelope[Event], key: str | None) -> OutboxMessage:
        """The record for `env`."""
        return self._record(env.data, env.id, env.traceparent, key, encode(env))

    def stored(
        self,
        event: Event,
        data: dict[str, Any],
        *,
        event_id: str,
        time: datetime,
        subject: str,
        traceparent: str | None,
    ) -> OutboxMessage:
        """The record of an event, keyed by `subject`, without building its Envelope; `data`
        = the event's fields as the writer stored them, or as they are (`__dict__`, for
        orjson: the watcher's detections), see `codec.document`. Raises TypeError for a
        value orjson cannot write."""
        doc = document(
            event,
            data,
            event_id=event_id,
            source=self.source,
            time=time,
            subject=subject,
            traceparent=traceparent,
        )
        return self._record(event, event_id, traceparent, subject, orjson.dumps(doc))

    def _record(
        self, event: Event, event_id: str, traceparent: str | None, key: str | None, value: bytes
    ) -> OutboxMessage:
        headers = [("ce_type", event.type_name), ("ce_id", event_id)]
        if traceparent:
            headers.append(("traceparent", traceparent))
        return OutboxMessage(
            topic=topics.full(event.topic, self.prefix),
            value=value,
            key=key.encode() if key is not None else None,
            headers=headers,
        )

    async def send_all(self, messages: Sequence[OutboxMessage]) -> None:
        await send_batched(
            self.kafka,
            ((m.topic, m.key, m.value, [(k, v.encode()) for k, v in m.headers]) for m in messages),
        )
        metrics.PUBLISHED.labels(self.source).inc(len(messages))

    async def dead_letter(self, bad: Sequence[Bad], consumer: str) -> None:
        if not bad:
            return
        for b in bad:
            log.warning(
                "dead-lettered %s[%d]@%d: %s",
                b.record.topic,
                b.record.partition,
                b.record.offset,
                b.reason,
            )
        metrics.DEAD_LETTERS.labels(consumer).inc(len(bad))
        await self.send_all([dead_letter_message(b, consumer, self.prefix) for b in bad])


async def ensure_topics(
    bootstrap: str,
    prefix: str,
    names: Iterable[str] = topics.ALL_TOPICS,
    *,
    partitions: int | None = None,
    attempts: int = 30,
) -> None:
    """Create the pinned topics if missing, each with `partitions` or its own count in
    `PARTITIONS` (idempotent; retried while the broker starts)."""
    wanted = {
        topics.full(n, prefix): partitions or PARTITIONS.get(n, DEFAULT_PARTITIONS) for n in names
    }
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [
                            NewTopic(t, num_partitions=wanted[t], replication_factor=1)
                            for t in missing
                        ]
                    )
            return
        except (KafkaError, OSError) as exc:
            if attempt == attempts - 1:
                raise
            log.info("waiting for Kafka at %s (%s)", bootstrap, exc)
            await asyncio.sleep(min(0.2 * (attempt + 1), 2))
        finally:
            with contextlib.suppress(Exception):
                await admin.close()


def header(record: Record, name: str) -> str | None:
    for k, v in record.headers:
        if k == name:
            return v.decode(errors="replace")
    return None


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)
