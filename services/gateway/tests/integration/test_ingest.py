"""HTTP ingest: validated signals reach their Kafka topic, keyed; bad ones are named."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from interventions_events import topics

from ..conftest import Gateway


def eval_signal(agent: str = "inbox.triage") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "tests",
        "type": "EvalRunCompleted",
        "time": "2026-11-26T21:00:00Z",
        "data": {"run_id": "run-1", "agent": agent, "quality_score": 91.0},
    }


def canary_signal(version: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "tests",
        "type": "CanaryMetricsReported",
        "data": {
            "version": version,
            "baseline_version": "v1",
            "canary_percent": 10,
            "samples": 200,
            "metrics": {"accuracy": 0.7},
            "baseline": {"accuracy": 0.9},
        },
    }


async def consume(
    gw: Gateway, topic: str, wanted: set[str], timeout: float = 20
) -> dict[str, tuple[bytes | None, dict[str, Any]]]:
    """Read `topic` from the start until every id in `wanted` was seen: id -> (key, doc)."""
    consumer = AIOKafkaConsumer(
        topics.full(topic, gw.prefix),
        bootstrap_servers=gw.bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    seen: dict[str, tuple[bytes | None, dict[str, Any]]] = {}
    try:
        async with asyncio.timeout(timeout):
            while not wanted <= set(seen):
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for r in records:
                        doc = orjson.loads(r.value)
                        seen[doc["id"]] = (r.key, doc)
    finally:
        await consumer.stop()
    return seen


def producer_client(gw: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=gw.url, timeout=20, headers={"authorization": f"Bearer {gw.tokens['producer']}"}
    )


async def test_one_event_is_answered_202_once_on_kafka_keyed_by_agent(gateway: Gateway) -> None:
    event = eval_signal("knowledge.update")
    async with producer_client(gateway) as client:
        resp = await client.post("/api/signals", json=event)
    assert resp.status_code == 202
    assert resp.json() == {"accepted": 1, "ids": [event["id"]]}
    seen = await consume(gateway, topics.SIGNALS_EVAL, {event["id"]})
    key, doc = seen[event["id"]]
    assert key == b"knowledge.update"
    assert doc["data"]["agent"] == "knowledge.update"
    assert doc["source"] == "tests"


async def test_canary_metrics_are_keyed_by_version(gateway: Gateway) -> None:
    event = canary_signal("v9-canary")
    async with producer_client(gateway) as client:
        resp = await client.post("/api/signals", json=[event])
    assert resp.status_code == 202
    seen = await consume(gateway, topics.SIGNALS_CANARY, {event["id"]})
    assert seen[event["id"]][0] == b"v9-canary"


async def test_a_batch_of_100_with_3_bad_puts_97_on_kafka_and_names_the_3(gateway: Gateway) -> None:
    batch = [eval_signal(f"agent.{i}") for i in range(100)]
    batch[7]["data"].pop("agent")
    batch[42]["type"] = "IncidentOpened"  # a real event type, but not a signal
    batch[99] = "not an object"  # type: ignore[call-overload]
    async with producer_client(gateway) as client:
        resp = await client.post("/api/signals", json=batch)
    assert resp.status_code == 400
    body = resp.json()
    rejected = {r["index"]: r for r in body["rejected"]}
    assert sorted(rejected) == [7, 42, 99]
    assert rejected[7]["id"] == batch[7]["id"] and "agent" in rejected[7]["reason"]
    assert "not a signal" in rejected[42]["reason"]
    assert rejected[99]["id"] is None and "JSON object" in rejected[99]["reason"]
    assert "97" in body["detail"] and body["accepted"] == 97
    good = {e["id"] for i, e in enumerate(batch) if i not in rejected}
    assert set(body["ids"]) == good
    seen = await consume(gateway, topics.SIGNALS_EVAL, good)
    bad_ids = {batch[7]["id"], batch[42]["id"]}
    assert not bad_ids & set(seen)
    assert len(good & set(seen)) == 97


async def test_a_body_that_is_not_json_is_a_400_saying_so(gateway: Gateway) -> None:
    async with producer_client(gateway) as client:
        resp = await client.post(
            "/api/signals", content=b"{nope", headers={"content-type": "application/json"}
        )
    assert resp.status_code == 400
    assert "not valid JSON" in resp.json()["detail"]


async def test_an_empty_array_is_refused(gateway: Gateway) -> None:
    async with producer_client(gateway) as client:
        resp = await client.post("/api/signals", json=[])
    assert resp.status_code == 400


async def test_a_body_over_the_size_limit_is_refused_with_413(gateway: Gateway) -> None:
    big = [eval_signal() for _ in range(600)]  # the rig allows 64 KiB
    async with producer_client(gateway) as client:
        resp = await client.post("/api/signals", json=big)
    assert resp.status_code == 413


async def test_a_chunked_body_without_length_is_still_limited(gateway: Gateway) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"["
        for _ in range(600):
            yield orjson.dumps(eval_signal()) + b","
        yield orjson.dumps(eval_signal()) + b"]"

    async with producer_client(gateway) as client:
        resp = await client.post(
            "/api/signals", content=chunks(), headers={"content-type": "application/json"}
        )
    assert resp.status_code == 413
    assert "smaller batches" in resp.json()["detail"]


async def test_a_viewer_cannot_ingest(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.post(
            "/api/signals",
            json=eval_signal(),
            headers={"authorization": f"Bearer {gateway.tokens['viewer']}"},
        )
    assert resp.status_code == 403
