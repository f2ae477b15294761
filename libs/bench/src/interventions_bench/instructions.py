"""Instructions per decision of the incident service's batch path, counted by callgrind.

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

It runs itself twice under `valgrind --tool=callgrind --instr-atstart=no`, with 0 and with
`--batches` measured batches, switching counting on after the set-up (`callgrind_control
-i on`); the difference divided by the decisions is the figure. `--plain` runs once without
valgrind and prints the process CPU time per decision instead.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import zlib
from typing import Any, cast

import uvloop
from incidents import consumers
from incidents.migrations import MIGRATIONS
from incidents.service import IncidentService
from incidents.settings import load_settings
from interventions_eventstore import CORE, create_pool, migrate
from interventions_platform import kafka
from interventions_platform.kafka import Publisher, Record
from interventions_testkit import infra

from . import load

BATCH = 2000
KEYS = 1000
PARTITIONS = 4
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHILD = "INTERVENTIONS_ICOUNT_BATCHES"


def batches(measured: int) -> list[list[Record]]:
    """Two warm batches, then `measured` batches of two partitions' records each."""

    def record(i: int) -> Record:
        key, value = load.detection(i, KEYS)
        return Record("detections", zlib.crc32(key) % PARTITIONS, i, key, value, ())

    out = [[record(i) for i in range(n * BATCH, (n + 1) * BATCH)] for n in range(2)]
    parts: list[list[Record]] = [[] for _ in range(PARTITIONS)]
    i, half = 2 * BATCH, BATCH // 2
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
    admin = os.environ.get("DATABASE_URL") or ADMIN_DSN
    dsn = await infra.create_database(admin, prefix="icount")
    try:
        pool = await create_pool(dsn, max_size=4)
        await migrate(pool, "incidents", CORE)
        await migrate(pool, "incidents", MIGRATIONS, component="incidents")
        pub = Publisher(cast(Any, None), "interventions/incidents", "icount.")  # builds only
        service = IncidentService(pool, pub, load_settings({}))
        todo = batches(measured)
        consumers.tune_gc()
        for recs in todo[:2]:
            await decide(service, recs)
        if counting:  # blocking on purpose: nothing else runs, and nothing counts before it
            counting_on()
        started = time.process_time()
        for recs in todo[2:]:
            await decide(service, recs)
        spent = time.process_time() - started
        await pool.close()
        return spent
    finally:
        await infra.drop_database(admin, dsn)


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


def count(measured: int) -> int:
    """Instructions callgrind counted in a child deciding `measured` batches after set-up."""
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--callgrind-out-file=/dev/null",
    ]
    out = subprocess.run(
        [*valgrind, sys.executable, "-m", "interventions_bench.instructions"],
        env={**os.environ, CHILD: str(measured)},
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
        "--batches", type=_positive, default=3, help="measured 2,000-record batches (>= 1)"
    )
    parser.add_argument("--plain", action="store_true", help="no valgrind: CPU time instead")
    args = parser.parse_args(argv)
    if CHILD in os.environ:
        uvloop.run(run_batches(int(os.environ[CHILD]), counting=True))
        return 0
    decisions = args.batches * BATCH
    if args.plain:
        spent = uvloop.run(run_batches(args.batches, counting=False))
        print(f"{spent / decisions * 1e6:.1f} us of CPU per decision ({decisions} decisions)")
        return 0
    per = (count(args.batches) - count(0)) / decisions
    print(f"{per:,.0f} instructions per decision ({decisions} decisions, callgrind)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
