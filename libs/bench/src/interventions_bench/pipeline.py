"""Throughput of the two consuming services, each beside its raw baseline: the watcher against
a plain aiokafka consumer, the incident service against asyncpg executemany."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import orjson
from aiokafka import TopicPartition
from interventions_events import topics
from interventions_testkit.processes import ServiceProcess

from . import consume, load
from .infra import Infra, start_all, stop_all
from .sizes import Sizes

Results = dict[str, float]


async def watcher_phase(inf: Infra, sizes: Sizes) -> Results:
    """raw_consume_per_s, raw_parse_per_s, watcher_signals_per_s over the same records."""
    prefix = await inf.prefix()
    topic = load.signal_topic(prefix)
    await load.produce(inf.bootstrap, topic, load.signals(sizes.signals))
    raw, ends = await consume.read_all(inf.bootstrap, [topic], sizes.signals)
    parsed, _ = await consume.read_all(inf.bootstrap, [topic], sizes.signals, parse=True)
    out = {"raw_consume_per_s": raw, "raw_parse_per_s": parsed}
    procs = inf.processes(["watcher"], await inf.database(), prefix)
    try:
        out["watcher_signals_per_s"] = await _catch_up(inf, procs, "watcher", ends, sizes)
    finally:
        stop_all(procs)
    return out


async def incidents_phase(inf: Infra, sizes: Sizes) -> tuple[Results, str]:
    """raw_insert_rows_per_s and incident_decisions_per_s; returns the filled database too."""
    prefix = await inf.prefix()
    topic = topics.full(topics.DETECTIONS, prefix)
    records = [load.detection(i, sizes.detection_keys) for i in range(sizes.detections)]
    await load.produce(inf.bootstrap, topic, records)
    dsn = await inf.database()
    out = {"raw_insert_rows_per_s": await raw_insert(dsn, sizes.detections)}
    _, ends = await consume.read_all(inf.bootstrap, [topic], sizes.detections)
    procs = inf.processes(["incidents"], dsn, prefix)
    try:
        out["incident_decisions_per_s"] = await _catch_up(inf, procs, "incidents", ends, sizes)
    finally:
        stop_all(procs)
    return out, dsn


async def _catch_up(
    inf: Infra,
    procs: dict[str, ServiceProcess],
    group: str,
    ends: dict[TopicPartition, int],
    sizes: Sizes,
) -> float:
    """Watch the group's commits from before the service starts, so none is missed."""
    rate = asyncio.create_task(
        consume.group_rate(inf.bootstrap, group, ends, within=sizes.catch_up_timeout)
    )
    await start_all(procs)
    return await rate


def _event_row(i: int) -> tuple[Any, ...]:
    """A row shaped like a stored OccurrenceRecorded (same columns, similar size)."""
    data = {
        "incident_id": i % 1000,
        "detection_id": f"{i:036d}",
        "observed_at": "2026-11-26T21:00:00+00:00",
        "at": "2026-11-26T21:00:00+00:00",
        "rule": "dedup: an active incident exists for the key",
        "evidence": {"agent": "inbox.triage", "run_id": f"run-{i}", "threshold": 300},
    }
    return (i, f"incident-{i % 1000}", i, f"{i:036d}", "OccurrenceRecorded", 1, data, {})


async def raw_insert(dsn: str, rows: int, chunk: int = 1000) -> float:
    """Rows per second for asyncpg executemany into a plain table like `events` (the same
    columns and column types, `json` included)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.set_type_codec(
            "json", schema="pg_catalog", encoder=_dumps, decoder=_loads, format="text"
        )
        await conn.execute(
            "CREATE TABLE bench_raw (global_position bigint PRIMARY KEY, stream_id text, "
            "stream_version int, event_id text UNIQUE, type text, schema_version int, "
            "data json, metadata json, recorded_at timestamptz DEFAULT now())"
        )
        data = [_event_row(i) for i in range(rows)]
        sql = (
            "INSERT INTO bench_raw (global_position, stream_id, stream_version, event_id, type, "
            "schema_version, data, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        started = time.perf_counter()
        for start in range(0, rows, chunk):
            async with conn.transaction():
                await conn.executemany(sql, data[start : start + chunk])
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_raw")
        return rows / elapsed
    finally:
        await conn.close()


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(text: str) -> Any:
    return orjson.loads(text)
