"""Instructions per decision of the incident service's batch path (per signal of the watcher's
with `--watcher`), counted by callgrind.

`python -m interventions_bench.instructions`: the decode of each detection record and
`IncidentService.handle_detections`, in this process, against a fresh database on the real
PostgreSQL (`DATABASE_URL`, else 127.0.0.1:5432), 2,000-detection batches over the bench's
1,000 keys. Two warm batches (the first opens every key's incident), then `--batches` batches
as a consumer of four partitions gets them (half from one partition, half from the next:
about four detections a key, so about one occurrence event per four decisions). Only this
process's instructions count, not PostgreSQL's: the figure is the Python side's CPU, and it
repeats to ~0.3 % on a machine whose timings move by tens of percent from one minute to the
next. Rates stay the bench's business (`make bench`); this is for comparing two versions of
the code, one change at a time.

`--watcher`: the watcher's `SignalHandler.handle` over the bench's signals (388 agents, every
tenth failing), 2,500-record batches (its consumer's cap) from two of four partitions, against
a fresh database with the watcher's tables. Its detections are encoded into aiokafka's real
record batches, which are then dropped instead of sent: the broker round trip is not counted,
as the fetch is not.

It runs itself twice under `valgrind --tool=callgrind --instr-atstart=no`, with 0 and with
`--batches` measured batches, switching counting on after the set-up (`callgrind_control
-i on`); the difference divided by the decisions is the figure. `--plain` runs once without
valgrind and prints the process CPU time per decision instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast

import asyncpg
import orjson
import uvloop
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from incidents import consumers
from incidents.migrations import MIGRATIONS
from incidents.service import IncidentService
from incidents.settings import load_settings
from interventions_eventstore import CORE, create_pool, migrate
from interventions_platform import kafka
from interventions_platform.kafka import Publisher, Record
from interventions_platform.runtime import Runtime
from interventions_testkit import infra
from watcher import consumers as watcher_consumers
from watcher import settings as watcher_settings
from watcher.handler import SignalHandler
from watcher.migrations import MIGRATIONS as WATCHER_MIGRATIONS

from . import load

BATCH = 2000
KEYS = 1000
PARTITIONS = 4
SIGNAL_BATCH = 2500  # the watcher consumer's cap (watcher.consumers.MAX_BATCH)
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHILD = "INTERVENTIONS_ICOUNT_BATCHES"
WATCHER = "INTERVENTIONS_ICOUNT_WATCHER"


def batches(measured: int) -> list[list[Record]]:
    """Two warm batches, then `measured` batches of two partitions' records each."""

    def record(i: int) -> Record:
        key, value = load.detection(i, KEYS)
        return Record("detections", zlib.crc32(key) % PARTITIONS, i, key, value, ())

    return _shaped(record, BATCH, measured)


def signal_batches(measured: int) -> list[list[Record]]:
    """The watcher's: the bench's signals, partitioned by agent as a producer does."""
    parts, partitioner = list(range(PARTITIONS)), DefaultPartitioner()

    def record(i: int) -> Record:
        doc = load.eval_signal(i, failing=i % 10 == 0)
        key = doc["data"]["agent"].encode()
        return Record("eval-signals", partitioner(key, parts, parts), i, key, dumps(doc), ())

    return _shaped(record, SIGNAL_BATCH, measured)


dumps = orjson.dumps


def _shaped(record: Callable[[int], Record], size: int, measured: int) -> list[list[Record]]:
    out = [[record(i) for i in range(n * size, (n + 1) * size)] for n in range(2)]
    parts: list[list[Record]] = [[] for _ in range(PARTITIONS)]
    i, half = 2 * size, size // 2
    while min(len(p) for p in parts) < half * measured:
        r = record(i)
        parts[r.partition].append(r)
        i += 1
    for n in range(measured):
        one, two = parts[n % PARTITIONS], parts[(n + 1) % PARTITIONS]
        out.append(one[n * half : (n + 1) * half] + two[n * half : (n + 1) * half])
    return out


async def run_batches(measured: int, counting: bool) -> float:
    """Decide the batches; returns the process CPU seconds of the measured ones."""
    async with _fresh_database("incidents", MIGRATIONS) as pool:
        pub = Publisher(cast(Any, None), "interventions/incidents", "icount.")  # builds only
        service = IncidentService(pool, pub, load_settings({}))
        todo = batches(measured)
        consumers.tune_gc()
        return await _measured(todo, lambda recs: decide(service, recs), counting)


async def run_signal_batches(measured: int, counting: bool) -> float:
    """The watcher's handler over the signal batches; returns the measured CPU seconds."""
    async with _fresh_database("watcher", WATCHER_MIGRATIONS) as pool:
        runtime = Runtime("watcher", raw_config={})
        runtime.pool = pool
        runtime.publisher = Publisher(cast(Any, Unsent()), "interventions/watcher", "icount.")
        handler = SignalHandler(runtime, watcher_settings.load({}))
        todo = signal_batches(measured)
        watcher_consumers.tune_gc()
        try:
            return await _measured(todo, handler.handle, counting)
        finally:
            await runtime.pub.kafka.stop()


@contextlib.asynccontextmanager
async def _fresh_database(schema: str, migrations: Sequence[str]) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new database with `schema`'s tables, dropped afterwards."""
    admin = os.environ.get("DATABASE_URL") or ADMIN_DSN
    dsn = await infra.create_database(admin, prefix="icount")
    try:
        pool = await create_pool(dsn, max_size=4)
        try:
            await migrate(pool, schema, CORE)
            await migrate(pool, schema, migrations, component=schema)
            yield pool
        finally:
            await pool.close()
    finally:
        await infra.drop_database(admin, dsn)


async def _measured(
    todo: list[list[Record]],
    handle: Callable[[list[Record]], Awaitable[object]],
    counting: bool,
) -> float:
    """Two warm batches, then the rest timed (and counted, under callgrind)."""
    for recs in todo[:2]:
        await handle(recs)
    if counting:  # blocking on purpose: nothing else runs, and nothing counts before it
        counting_on()
    started = time.process_time()
    for recs in todo[2:]:
        await handle(recs)
    return time.process_time() - started


class Unsent:
    """The producer's side of `send_batched` up to the network: records go into aiokafka's
    own batches, which are built and dropped instead of sent."""

    def __init__(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")  # never started

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def create_batch(self) -> Any:
        return self._producer.create_batch()

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[None]:
        batch._builder.build()  # the records' encoding, which a send would do
        return _done()

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[None]:
        return _done()

    async def stop(self) -> None:
        await self._producer.stop()


def _done() -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def counting_on() -> None:
    """Switch callgrind's counting on for this process (it started with it off)."""
    on = ["callgrind_control", "-i", "on", str(os.getpid())]
    subprocess.run(on, check=True, capture_output=True)


async def decide(service: IncidentService, records: list[Record]) -> None:
    """What the consumer's handler does with a batch of detection records."""
    good, bad = kafka.decode_records_fields(records)
    assert not bad, bad
    detections, _ = consumers._split(env for _, env in good)
    await service.handle_detections(detections, [])


def count(measured: int, watcher: bool) -> int:
    """Instructions callgrind counted in a child handling `measured` batches after set-up."""
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--callgrind-out-file=/dev/null",
    ]
    out = subprocess.run(
        [*valgrind, sys.executable, "-m", "interventions_bench.instructions"],
        env={**os.environ, CHILD: str(measured), WATCHER: "1" if watcher else ""},
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interventions_bench.instructions")
    parser.add_argument(
        "--batches",
        type=_positive,
        default=3,
        help="measured batches (>= 1) of 2,000 detections, or 2,500 signals with --watcher",
    )
    parser.add_argument("--plain", action="store_true", help="no valgrind: CPU time instead")
    parser.add_argument("--watcher", action="store_true", help="the watcher's signal batches")
    args = parser.parse_args(argv)
    if CHILD in os.environ:
        run = run_signal_batches if os.environ.get(WATCHER) else run_batches
        uvloop.run(run(int(os.environ[CHILD]), counting=True))
        return 0
    run, unit, size = (
        (run_signal_batches, "signal", SIGNAL_BATCH)
        if args.watcher
        else (run_batches, "decision", BATCH)
    )
    done = args.batches * size
    if args.plain:
        spent = uvloop.run(run(args.batches, counting=False))
        print(f"{spent / done * 1e6:.1f} us of CPU per {unit} ({done} {unit}s)")
        return 0
    per = (count(args.batches, args.watcher) - count(0, args.watcher)) / done
    print(f"{per:,.0f} instructions per {unit} ({done} {unit}s, callgrind)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
