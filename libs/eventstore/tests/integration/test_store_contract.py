"""Event store contract, against real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from interventions_eventstore import (
    CORE,
    Append,
    ConcurrencyError,
    EventStore,
    Inbox,
    NewEvent,
    Outbox,
    OutboxMessage,
    OutboxRelay,
    create_pool,
    migrate,
)

if TYPE_CHECKING:
    from conftest import ReadTopic

SCHEMA = "store_test"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, max_size=20)
    await migrate(p, SCHEMA, CORE)
    yield p
    await p.close()


def ev(kind: str = "Happened", **data: object) -> NewEvent:
    return NewEvent(type=kind, data=dict(data), event_id=str(uuid.uuid4()))


async def test_append_and_load_in_version_order(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, SCHEMA)
    await store.append("s-1", [ev(n=1), ev(n=2)], expected_version=0)
    await store.append("s-1", [ev(n=3)], expected_version=2)
    loaded = await store.load("s-1")
    assert [e.stream_version for e in loaded] == [1, 2, 3]
    assert [e.data["n"] for e in loaded] == [1, 2, 3]


async def test_append_many_without_returning_stores_the_same_and_still_conflicts(
    pool: asyncpg.Pool,
) -> None:
    store = EventStore(pool, SCHEMA)
    appends = [Append("q-1", 0, [ev(n=1), ev(n=2)]), Append("q-2", 0, [ev(n=3)])]
    assert await store.append_many(appends, returning=False) == []
    assert [(e.stream_version, e.data["n"]) for e in await store.load("q-1")] == [(1, 1), (2, 2)]
    assert [(e.stream_version, e.data["n"]) for e in await store.load("q-2")] == [(1, 3)]
    with pytest.raises(ConcurrencyError):  # q-2 moved on: nothing of this append is stored
        await store.append_many(
            [Append("q-1", 2, [ev(n=4)]), Append("q-2", 0, [ev(n=5)])], returning=False
        )
    assert [e.stream_version for e in await store.load("q-1")] == [1, 2]


async def test_appended_events_are_stored_as_given_text_metadata_and_times_included(
    pool: asyncpg.Pool,
) -> None:
    """The rows travel as parallel lists: data given as JSON text is stored byte for byte,
    a dict as orjson writes it; strings keep quotes, backslashes and non-ASCII; positions
    follow the order given across streams; a naive recorded_at is UTC."""
    from datetime import UTC, datetime

    store = EventStore(pool, SCHEMA)
    text = '{"b": 1,  "a": "x\\"y\\u00e9 \u2603"}'  # spacing and escapes as written
    naive = datetime(2026, 1, 2, 3, 4, 5)
    events = [
        NewEvent(type="T", data=text, event_id="e-text", metadata={"by": 'q"uote\\ \u00e9'}),
        NewEvent(type="T", data={"n": 2, "s": "\u2603\n"}, event_id="e-dict", schema_version=3),
        NewEvent(type="T", data={}, event_id="e-time", recorded_at=naive),
    ]
    await store.append_many(
        [Append("j-1", 0, events[:1]), Append("j-2", 0, events[1:])], returning=False
    )
    rows = await pool.fetch(
        f"SELECT stream_id, stream_version, event_id, schema_version, data::text AS data, "
        f"metadata, recorded_at FROM {SCHEMA}.events WHERE stream_id LIKE 'j-%' "
        "ORDER BY global_position"
    )
    assert [(r["stream_id"], r["stream_version"], r["event_id"]) for r in rows] == [
        ("j-1", 1, "e-text"),
        ("j-2", 1, "e-dict"),
        ("j-2", 2, "e-time"),
    ]
    assert rows[0]["data"] == text
    assert rows[0]["metadata"] == {"by": 'q"uote\\ \u00e9'}
    assert rows[1]["data"] == '{"n":2,"s":"\u2603\\n"}' and rows[1]["schema_version"] == 3
    assert rows[2]["recorded_at"] == naive.replace(tzinfo=UTC)


async def test_a_stream_id_holding_the_separator_is_stored_as_given_through_arrays(
    pool: asyncpg.Pool,
) -> None:
    """The lists travel packed into one text each, split by the ASCII unit separator; a text
    that holds it (a key from outside may) sends that append as arrays instead, unchanged.
    Times may be given for some events only, in either form."""
    from datetime import UTC, datetime

    store = EventStore(pool, SCHEMA)
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    odd = "key-a\x1fb"
    await store.append_many(
        [
            Append(odd, 0, [ev(n=1), NewEvent(type="T", data={}, event_id=f"u-{uuid.uuid4()}")]),
            Append(
                "u-plain", 0, [NewEvent(type="T", data={"n": 3}, event_id="u-3", recorded_at=at)]
            ),
        ],
        returning=False,
    )
    await store.append_many(
        [Append("u-plain", 1, [ev(n=4), NewEvent(type="T", data={}, event_id="u-5")])]
    )
    assert [e.stream_version for e in await store.load(odd)] == [1, 2]
    plain = await store.load("u-plain")
    assert [(e.stream_version, e.data.get("n")) for e in plain] == [(1, 3), (2, 4), (3, None)]
    assert plain[0].recorded_at == at and plain[1].recorded_at > at


async def test_an_append_with_outbox_messages_stores_both_in_one_statement_or_neither(
    pool: asyncpg.Pool,
) -> None:
    """`append_many(..., outbox=...)` writes the events and the outbox rows (at the next
    outbox positions, in order, the relay woken on commit) as `Outbox.add` would, and a
    conflict stores neither; with no events it is `Outbox.add` alone."""
    store, outbox = EventStore(pool, SCHEMA), Outbox(SCHEMA)
    msgs = [
        OutboxMessage("t.one", b'{"n":1}', b"k1", [("h", "v")]),
        OutboxMessage("t.two", b'{"n":2}', None),
    ]
    woken: list[str] = []

    def wake(*args: object) -> None:
        woken.append(str(args[2]))

    listener = await pool.acquire()
    await listener.add_listener(outbox.channel, wake)
    try:
        async with pool.acquire() as conn, conn.transaction():
            before = await conn.fetchval(
                f"SELECT last FROM {SCHEMA}.positions WHERE name = 'outbox'"
            )
            await store.append_many(
                [Append("o-1", 0, [ev(n=1)]), Append("o-2", 0, [ev(n=2)])],
                conn=conn,
                returning=False,
                outbox=outbox,
                messages=msgs,
            )
        rows = await pool.fetch(
            f"SELECT position, topic, key, value, headers FROM {SCHEMA}.outbox "
            "WHERE position > $1 ORDER BY position",
            before,
        )
        assert [(r["position"] - before, r["topic"], r["key"], r["value"]) for r in rows] == [
            (1, "t.one", b"k1", b'{"n":1}'),
            (2, "t.two", None, b'{"n":2}'),
        ]
        assert rows[0]["headers"] == [["h", "v"]]
        assert [e.data["n"] for e in await store.load("o-1")] == [1]
        for _ in range(50):
            if woken:
                break
            await asyncio.sleep(0.02)
        assert woken == [outbox.channel]

        with pytest.raises(ConcurrencyError):  # o-1 moved on: no event, no outbox row
            async with pool.acquire() as conn, conn.transaction():
                await store.append_many(
                    [Append("o-1", 0, [ev(n=3)])],
                    conn=conn,
                    returning=False,
                    outbox=outbox,
                    messages=msgs[:1],
                    notify=False,
                )
        assert (
            await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE position > $1", before)
            == 2
        )

        async with pool.acquire() as conn, conn.transaction():
            await store.append_many([], conn=conn, outbox=outbox, messages=msgs[1:])
        assert (
            await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE position > $1", before)
            == 3
        )
        with pytest.raises(ValueError, match="conn="):  # never outside a transaction
            await store.append_many([Append("o-3", 0, [ev()])], outbox=outbox, messages=msgs)
    finally:
        await listener.remove_listener(outbox.channel, wake)
        await pool.release(listener)


async def test_stale_expected_version_is_a_typed_conflict(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, SCHEMA)
    await store.append("s-2", [ev()], expected_version=0)
    with pytest.raises(ConcurrencyError):
        await store.append("s-2", [ev()], expected_version=0)


async def test_eight_concurrent_writers_on_one_stream_exactly_one_wins_each_version(
    pool: asyncpg.Pool,
) -> None:
    store = EventStore(pool, SCHEMA)
    wins: dict[int, list[int]] = defaultdict(list)
    conflicts = 0

    async def writer(w: int) -> None:
        nonlocal conflicts
        for _ in range(20):
            version = len(await store.load("hot"))
            try:
                await store.append("hot", [ev(writer=w)], expected_version=version)
                wins[version + 1].append(w)
            except ConcurrencyError:
                conflicts += 1

    await asyncio.gather(*(writer(w) for w in range(8)))
    stored = await store.load("hot")
    assert [e.stream_version for e in stored] == list(range(1, len(stored) + 1))
    assert all(len(winners) == 1 for winners in wins.values())
    assert len(wins) == len(stored)
    assert conflicts > 0


async def test_redelivered_event_through_the_inbox_has_its_effect_once(pool: asyncpg.Pool) -> None:
    await pool.execute(f"CREATE TABLE {SCHEMA}.counter (n int)")
    await pool.execute(f"INSERT INTO {SCHEMA}.counter VALUES (0)")
    inbox = Inbox(SCHEMA, "counter-consumer")

    async def handle(event_ids: list[str]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            new = await inbox.claim(conn, event_ids)
            await conn.execute(f"UPDATE {SCHEMA}.counter SET n = n + $1", len(new))

    ids = [str(uuid.uuid4()) for _ in range(5)]
    await handle(ids)
    await handle(ids)  # redelivery of the whole batch
    await handle([*ids[2:], str(uuid.uuid4())])  # partial redelivery plus one new
    assert await pool.fetchval(f"SELECT n FROM {SCHEMA}.counter") == 6


async def test_read_all_after_a_position_follows_commit_order(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, SCHEMA)
    async with pool.acquire() as slow, slow.transaction():
        await store.append("late", [ev()], expected_version=0, conn=slow)
        # a second writer must wait for the first to commit: positions are commit-ordered
        second = asyncio.create_task(store.append("early", [ev()], expected_version=0))
        await asyncio.sleep(0.3)
        assert not second.done()
    await second
    events = await store.read_all(0)
    assert [e.stream_id for e in events] == ["late", "early"]
    assert [e.global_position for e in events] == [1, 2]


async def test_relay_publishes_every_committed_event_in_stream_order_and_never_an_aborted_one(
    pool: asyncpg.Pool,
    kafka_bootstrap: str,
    topic_prefix: str,
    read_topic: ReadTopic,
) -> None:
    topic = f"{topic_prefix}relay"
    store, outbox = EventStore(pool, SCHEMA), Outbox(SCHEMA)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=False, linger_ms=2
    )
    await producer.start()
    # sweeping between batches, so `late == 0` below checks the writers' whole run
    relay = OutboxRelay(pool, SCHEMA, producer, batch_size=50, idle_poll_s=0.05, sweep_every_s=0.01)
    relay_task = asyncio.create_task(relay.run())
    committed: dict[str, list[int]] = defaultdict(list)
    aborted: set[str] = set()
    rng = random.Random(7)

    async def writer(w: int) -> None:
        stream = f"stream-{w}"
        version = 0
        for i in range(40):
            e = ev(n=i)
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await store.append(stream, [e], expected_version=version, conn=conn)
                    await outbox.add(
                        conn,
                        [
                            OutboxMessage(
                                topic=topic,
                                key=stream.encode(),
                                value=f"{stream}:{version + 1}:{e.event_id}".encode(),
                            )
                        ],
                    )
                    await asyncio.sleep(rng.random() * 0.02)  # slow transactions commit late
                    if rng.random() < 0.15:
                        raise _Abort
                version += 1
                committed[stream].append(version)
            except _Abort:
                aborted.add(e.event_id)

    await asyncio.gather(*(writer(w) for w in range(8)))
    expected_total = sum(len(v) for v in committed.values())
    # then nothing beyond the committed ones within a second
    seen = [r.value.decode() for r in await read_topic(topic, expected_total, settle_ms=1000)]
    relay.stop()
    await relay_task
    await producer.stop()

    by_stream: dict[str, list[int]] = defaultdict(list)
    for value in seen:
        stream, version, event_id = value.split(":")
        assert event_id not in aborted
        by_stream[stream].append(int(version))
    assert dict(by_stream) == dict(committed)
    assert aborted  # the scenario really aborted some transactions
    # every published row is deleted (exactly those sent), and none committed below the
    # cursor: positions became visible in order, so the sweep found nothing late
    left = await pool.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.outbox o JOIN {SCHEMA}.outbox_cursor c "
        "ON c.relay = 'relay' WHERE o.position <= c.position"
    )
    assert left == 0
    assert relay.late == 0


async def test_relay_publishes_a_row_found_below_its_cursor_late_instead_of_never(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_prefix: str, read_topic: ReadTopic
) -> None:
    """A row that commits at or below the cursor (positions out of commit order: a writer
    that bypassed the counter, here an INSERT by hand) is kept, found by the leader's sweep,
    published and counted; a range delete would have dropped it unsent."""
    topic = f"{topic_prefix}late"
    outbox = Outbox(SCHEMA)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(
            conn, [OutboxMessage(topic=topic, key=b"k", value=f"m{i}".encode()) for i in range(5)]
        )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=2)
    await producer.start()
    relay = OutboxRelay(pool, SCHEMA, producer, batch_size=2, idle_poll_s=0.05, sweep_every_s=0.2)
    task = asyncio.create_task(relay.run())
    try:
        await read_topic(topic, 5)
        # the cursor is at 5: a row at position 3 appears (its first holder was published and
        # deleted, so the slot is free) and one far below
        await pool.execute(
            f"INSERT INTO {SCHEMA}.outbox (position, topic, key, value, headers) "
            "VALUES (3, $1, 'k', 'late-3', '[]'), (-7, $1, 'k', 'late-minus-7', '[]')",
            topic,
        )
        values = [r.value for r in await read_topic(topic, 7)]  # one key: one partition
        assert values[:5] == [f"m{i}".encode() for i in range(5)]
        assert values[5:] == [b"late-minus-7", b"late-3"]  # oldest first
        assert relay.late == 2
        assert await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox") == 0
    finally:
        relay.stop()
        await task
        await producer.stop()


class _Abort(Exception):
    pass
