"""Consumer offsets committed in the background, up to ~20 times a second, instead of one
awaited commit per batch.

FastStream acks a handled batch by awaiting `consumer.commit()`: a broker round trip that every
batch waited out before the next could be read (a hop's latency), and one commit request per
batch per consumer group (on the embedded broker ~220 us of its CPU each, one of the largest
costs of a lightly loaded stack). Here the ack only notes the batch's next offsets; one task per
consumer commits the newest noted offsets at most every `every` seconds (50 ms).

At-least-once holds: an offset is committed only after its batch was handled. A crash, or a
rebalance before the commit went out, redelivers at most `every` seconds of records, which the
consumers' inboxes and idempotent writes absorb as they absorb any redelivery. A graceful stop
commits everything handled (`closing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

log = logging.getLogger(__name__)

# at most ~20 commits a second per consumer under load (none when idle); the last batch of a
# backlog is committed at most this late (at 0.2 s the bench's rates, taken from committed
# offsets, lost up to 200 ms per ~3 s phase)
EVERY_S = 0.05
_ALL: weakref.WeakSet[DeferredCommits] = weakref.WeakSet()
_BY_CONSUMER: weakref.WeakKeyDictionary[AIOKafkaConsumer, DeferredCommits] = (
    weakref.WeakKeyDictionary()
)


class _State:
    closing = False  # set by `close_all`: from then on every ack commits before returning


def next_offsets(records: Sequence[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, int]:
    """Per partition, the offset after the batch's last record (what a commit stores)."""
    out: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        if r.offset + 1 > out.get(tp, -1):
            out[tp] = r.offset + 1
    return out


class DeferredCommits:
    """The newest handled offsets of one consumer, committed by one background task."""

    def __init__(self, consumer: AIOKafkaConsumer, every: float = EVERY_S):
        self.consumer = consumer
        self.every = every
        self.pending: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._last = 0.0
        _ALL.add(self)

    @classmethod
    def of(cls, consumer: AIOKafkaConsumer) -> DeferredCommits:
        found = _BY_CONSUMER.get(consumer)
        if found is None:
            found = _BY_CONSUMER[consumer] = cls(consumer)
        return found

    async def handled(self, offsets: dict[TopicPartition, int]) -> None:
        """A batch was handled: commit its offsets soon (now, when the service is stopping)."""
        for tp, offset in offsets.items():
            if offset > self.pending.get(tp, -1):
                self.pending[tp] = offset
        if _State.closing:
            await self.flush()
        elif self._task is None or self._task.done():
            self._task = asyncio.create_task(self._later(), name="deferred-commit")

    async def flush(self) -> None:
        """Commit what is pending now (offsets of partitions no longer ours are dropped: their
        new owner reads them again)."""
        offsets, self.pending = self.pending, {}
        self._last = asyncio.get_running_loop().time()
        try:
            assigned = self.consumer.assignment()
            offsets = {tp: o for tp, o in offsets.items() if tp in assigned}
            if offsets:
                await self.consumer.commit(offsets)
        except (KafkaError, IllegalStateError) as exc:  # e.g. a rebalance took the partitions
            log.info("offset commit skipped (records will be redelivered): %r", exc)
        except Exception:  # a stopped consumer: nothing must escape the background task
            log.warning("offset commit failed (records will be redelivered)", exc_info=True)

    async def _later(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            wait = self._last + self.every - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.flush()


class BatchAck:
    """What FastStream's ack and nack act on for one batch (in place of the consumer): the ack
    notes the batch's offsets; a nack rewinds as FastStream does, on the real consumer."""

    def __init__(self, commits: DeferredCommits, records: Sequence[ConsumerRecord[Any, Any]]):
        self.commits = commits
        self.records = records

    async def commit(self) -> None:
        await self.commits.handled(next_offsets(self.records))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.commits.consumer.seek(partition, offset)


async def close_all() -> None:
    """A graceful stop begins: commit what is pending, and from now on commit every handled
    batch before its ack returns (before the consumers stop)."""
    _State.closing = True
    for commits in list(_ALL):
        with contextlib.suppress(Exception):
            await commits.flush()


def reopen() -> None:
    """Back to deferred commits (a process that starts a runtime again, e.g. tests)."""
    _State.closing = False
