"""Deferred offset commits: only handled offsets, the newest per partition, coalesced into
one commit per interval, none for partitions no longer assigned, everything at once when
the service stops. Pure logic against a stand-in consumer (the real broker path is covered
by every service test that waits for a consumer group to catch up)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError
from interventions_platform import commits
from interventions_platform.commits import BatchAck, DeferredCommits

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


class Consumer:
    def __init__(self) -> None:
        self.assigned = {A, B}
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.fail = False

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail:
            raise CommitFailedError("rebalancing")
        self.commits.append(dict(offsets))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


class Rec:
    def __init__(self, tp: TopicPartition, offset: int):
        self.topic, self.partition, self.offset = tp.topic, tp.partition, offset


def deferred(consumer: Consumer, every: float = 0.05) -> DeferredCommits:
    return DeferredCommits(cast(AIOKafkaConsumer, consumer), every)


def batch(*recs: tuple[TopicPartition, int]) -> list[Any]:
    return [Rec(tp, o) for tp, o in recs]


@pytest.fixture(autouse=True)
def _open() -> Iterator[None]:
    commits.reopen()
    yield
    commits.reopen()


async def test_acks_return_at_once_and_coalesce_into_one_commit_of_the_newest_offsets() -> None:
    c = Consumer()
    d = deferred(c)
    await BatchAck(d, batch((A, 0), (A, 1), (B, 5))).commit()
    await BatchAck(d, batch((A, 2))).commit()
    assert c.commits == []  # nothing awaited the broker
    await asyncio.sleep(0.1)
    assert c.commits == [{A: 3, B: 6}]


async def test_after_a_quiet_spell_the_first_ack_commits_at_once_the_next_one_waits() -> None:
    c = Consumer()
    d = deferred(c)
    await BatchAck(d, batch((A, 0))).commit()
    await asyncio.sleep(0.01)
    assert c.commits == [{A: 1}]
    await BatchAck(d, batch((A, 1))).commit()
    await asyncio.sleep(0.01)
    assert c.commits == [{A: 1}]  # not sooner than `every` after the last commit
    await asyncio.sleep(0.08)
    assert c.commits == [{A: 1}, {A: 2}]


async def test_partitions_no_longer_assigned_are_not_committed() -> None:
    c = Consumer()
    d = deferred(c)
    await BatchAck(d, batch((A, 4), (B, 9))).commit()
    c.assigned = {B}
    await asyncio.sleep(0.1)
    assert c.commits == [{B: 10}]


async def test_a_failed_commit_is_dropped_and_the_next_one_goes_out() -> None:
    c = Consumer()
    d = deferred(c)
    c.fail = True
    await BatchAck(d, batch((A, 0))).commit()
    await asyncio.sleep(0.08)
    c.fail = False
    await BatchAck(d, batch((A, 1))).commit()
    await asyncio.sleep(0.1)
    assert c.commits == [{A: 2}]


async def test_closing_commits_what_is_pending_and_then_every_ack_before_it_returns() -> None:
    c = Consumer()
    d = DeferredCommits(cast(AIOKafkaConsumer, c), every=60)
    await BatchAck(d, batch((A, 0))).commit()
    await commits.close_all()
    assert c.commits == [{A: 1}]
    await BatchAck(d, batch((B, 3))).commit()
    assert c.commits == [{A: 1}, {B: 4}]


def test_a_nack_rewinds_the_real_consumer() -> None:
    c = Consumer()
    BatchAck(deferred(c), batch((A, 7))).seek(A, 7)
    assert c.seeks == [(A, 7)]
