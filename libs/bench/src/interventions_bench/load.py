"""Bench inputs: signals (a tenth failing), detections over a fixed set of keys, and producing
them to Kafka pipelined."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from interventions_events import topics
from interventions_platform import kafka

AGENTS = ("inbox.triage", "knowledge.update", "insights.write", "warehouse.health")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def eval_signal(i: int, *, failing: bool, invariant: str | None = None) -> dict[str, Any]:
    """One EvalRunCompleted CloudEvent; a failing one breaks a freshness invariant."""
    agent = f"{AGENTS[i % len(AGENTS)]}.{i % 97}"
    inv = invariant or f"data_freshness_{i % 50}"
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "bench",
        "type": "EvalRunCompleted",
        "time": _now(),
        "data": {
            "run_id": f"run-{i}",
            "agent": agent,
            "task_id": f"task-{i % 13}",
            "quality_score": 91.0,
            "latency_ms": 420.0,
            "cost_usd": 0.002,
            "invariants": [
                {
                    "id": inv,
                    "name": "Data freshness",
                    "passed": not failing,
                    "priority": "critical",
                    "threshold": 300,
                    "actual": 1800 if failing else 60,
                    "unit": "seconds",
                    "message": "inbox data is 1800 s old" if failing else "fresh",
                }
            ],
        },
    }


def signals(n: int) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs; every tenth signal fails."""
    out = []
    for i in range(n):
        doc = eval_signal(i, failing=i % 10 == 0)
        out.append((doc["data"]["agent"].encode(), orjson.dumps(doc)))
    return out


def detection(i: int, keys: int) -> tuple[bytes, bytes]:
    """One InvariantViolated over `keys` distinct incident keys (the first per key opens)."""
    key = f"INV_bench_{i % keys}"
    doc = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "bench",
        "type": "InvariantViolated",
        "time": _now(),
        "subject": key,
        "data": {
            "kind": "invariant",
            "key": key,
            "subject": "inbox.triage",
            "observed_at": _now(),
            "source_event_id": f"sig-{i}",
            "hint": "high",
            "evidence": {
                "invariant": {
                    "id": f"bench_{i % keys}",
                    "name": "Data freshness",
                    "threshold": 300,
                    "actual": 1800,
                    "unit": "seconds",
                    "message": "data is 1800 s old",
                },
                "agent": "inbox.triage",
                "run_id": f"run-{i}",
            },
        },
    }
    return key.encode(), orjson.dumps(doc)


async def produce(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]], chunk: int = 5000
) -> None:
    """Send everything pipelined, awaiting acks per chunk."""
    producer = kafka.producer(bootstrap, linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for start in range(0, len(records), chunk):
            futures = [
                await producer.send(topic, value=v, key=k)
                for k, v in records[start : start + chunk]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


def signal_topic(prefix: str) -> str:
    return topics.full(topics.SIGNALS_EVAL, prefix)


async def started_producer(bootstrap: str) -> AIOKafkaProducer:
    producer = kafka.producer(bootstrap, linger_ms=0)
    await producer.start()
    return producer
