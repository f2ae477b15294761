"""Each bad input gets a clear error and never stops the flow: on the topics it is dead-
lettered with a reason (original bytes kept), on POST /api/signals it is a 4xx naming the
problem; schemathesis over the gateway's OpenAPI finds no 5xx."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from interventions_events import topics
from interventions_testkit import oracles
from interventions_testkit.chaos import Stack, TopicTap, failing_signal

from .cases import CASES, HUGE, at_the_limits


async def test_bad_records_on_a_topic_are_dead_lettered_with_a_reason_and_flow_continues(
    stack: Stack, dlq: TopicTap
) -> None:
    topic = topics.full(topics.SIGNALS_EVAL, stack.prefix)
    big = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, max_request_size=4_000_000)
    await big.start()
    try:
        for name, raw in CASES:
            await big.send_and_wait(topic, raw, key=name.encode())
    finally:
        await big.stop()
    after = await stack.send(5, ["bad_after"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        keys = {r.key.decode() for r in dlq.raw if r.key}
        if keys >= {n for n, _ in CASES}:
            break
        await asyncio.sleep(0.3)
    by_key = {r.key.decode(): r for r in dlq.raw if r.key}
    missing = [n for n, _ in CASES if n not in by_key]
    assert not missing, f"not dead-lettered: {missing}"
    for name, raw in CASES:
        rec = by_key[name]
        headers = {k: v.decode() for k, v in rec.headers}
        assert headers["dlq-consumer"] == "watcher" and headers["dlq-reason"], name
        assert rec.value == raw, f"{name}: the DLQ must keep the original bytes"
    took = await oracles.wait_decided(stack.database_url, after.acked, 30)
    assert took < 30, "good signals after the bad ones were never decided"


async def test_tolerated_oddities_are_decided_once_not_dead_lettered(stack: Stack) -> None:
    """Far-future time (clamped to now), a null Kafka key, a duplicate id with a different
    payload (the first one wins, by the inbox)."""
    assert stack.producer is not None
    topic = topics.full(topics.SIGNALS_EVAL, stack.prefix)
    future = failing_signal("odd_future")
    future["time"] = "9999-12-31T23:59:59Z"
    nokey = failing_signal("odd_nokey")
    dup = failing_signal("odd_dup")
    twin = {**failing_signal("odd_dup"), "id": dup["id"], "source": "someone-else"}
    for doc, key in ((future, None), (nokey, None), (dup, b"a"), (twin, b"a")):
        await stack.producer.send_and_wait(topic, orjson.dumps(doc), key=key or b"a")
    acked = {future["id"]: "odd_future", nokey["id"]: "odd_nokey", dup["id"]: "odd_dup"}
    assert await oracles.wait_decided(stack.database_url, acked, 30) < 30
    conn = await oracles.connect(stack.database_url)
    try:
        v = oracles.Verdict()
        await oracles.check_decisions(conn, acked, v)
    finally:
        await conn.close()
    assert v.duplicates == 0 and v.losses == 0, v


@pytest.mark.parametrize(
    ("name", "raw"),
    [c for c in CASES if c[0] != "huge"],
    ids=lambda x: x if isinstance(x, str) else "",
)
async def test_bad_signal_over_http_is_a_400_naming_the_problem(
    stack: Stack, name: str, raw: bytes
) -> None:
    headers = {"authorization": f"Bearer {stack.tokens['producer']}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=15) as c:
        resp = await c.post("/api/signals", content=raw)
    assert resp.status_code == 400, (name, resp.text)
    body = resp.json()
    reasons = [r["reason"] for r in body.get("rejected", [])] or [body["detail"]]
    assert all(len(r) > 10 for r in reasons), (name, body)


async def test_strings_at_the_contract_limits_are_accepted_on_the_topic_and_over_http(
    stack: Stack,
) -> None:
    assert stack.producer is not None
    on_topic, over_http = at_the_limits("limits_topic"), at_the_limits("limits_http")
    await stack.producer.send_and_wait(
        topics.full(topics.SIGNALS_EVAL, stack.prefix), orjson.dumps(on_topic), key=b"limits"
    )
    headers = {"authorization": f"Bearer {stack.tokens['producer']}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=15) as c:
        resp = await c.post("/api/signals", content=orjson.dumps(over_http))
    assert resp.status_code == 202, resp.text
    acked = {on_topic["id"]: "bad_limits_topic", over_http["id"]: "bad_limits_http"}
    assert await oracles.wait_decided(stack.database_url, acked, 30) < 30


async def test_oversize_signal_over_http_is_refused(stack: Stack) -> None:
    raw = HUGE[1] * 2
    headers = {"authorization": f"Bearer {stack.tokens['producer']}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=15) as c:
        resp = await c.post("/api/signals", content=raw)
    assert resp.status_code in (400, 413) and resp.json()["detail"]


async def test_oversize_record_that_reached_the_topic_is_dead_lettered(
    stack: Stack, dlq: TopicTap
) -> None:
    topic = topics.full(topics.SIGNALS_EVAL, stack.prefix)
    big = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, max_request_size=4_000_000)
    await big.start()
    try:
        await big.send_and_wait(topic, HUGE[1], key=HUGE[0].encode())
    finally:
        await big.stop()
    after = await stack.send(3, ["after_oversize"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [r for r in dlq.raw if r.key == HUGE[0].encode()]
        if found:
            headers = {k: v.decode() for k, v in found[0].headers}
            assert "bytes" in headers["dlq-reason"], headers["dlq-reason"]
            # the original does not fit a publishable record: cut, and said so
            assert headers["dlq-truncated"] == "true"
            assert headers["dlq-original-bytes"] == str(len(HUGE[1]))
            assert 0 < len(found[0].value) < len(HUGE[1])
            assert HUGE[1].startswith(found[0].value)
            took = await oracles.wait_decided(stack.database_url, after.acked, 30)
            assert took < 30, "signals after the oversize record were never decided"
            return
        await asyncio.sleep(0.3)
    raise AssertionError("the oversize record never reached the DLQ")
