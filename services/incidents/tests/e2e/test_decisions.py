"""Dedup and rate limit over the real broker, with decisions explained by /api/detections."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

KEY = "BUDGET_inbox.triage_latency_p95"
TEN = "BUDGET_ten.agent_latency_p95"


async def test_ten_identical_detections_make_one_incident_with_ten_occurrences(
    shared_service: Any,
    producer: AIOKafkaProducer,
    kit: Any,
) -> None:
    svc = shared_service
    envs = [kit.envelope(kit.latency(TEN)) for _ in range(10)]
    await kit.publish(producer, svc.prefix, envs, kit.by_key)
    await kit.publish(producer, svc.prefix, envs[:3], kit.by_key)  # redelivery: same ids

    async def ten() -> list[dict[str, Any]] | None:
        items = await svc.incidents(key=TEN)
        return items if items and items[0]["occurrences"] == 10 else None

    items = await svc.wait_for(ten)
    assert len(items) == 1
    async with svc.client("viewer") as c:
        timeline = (await c.get(f"/api/incidents/{items[0]['id']}/events")).json()["events"]
        body = (await c.get("/api/detections", params={"key": TEN})).json()
    # the occurrences of one consumer batch are one event that counts them
    again = [e for e in timeline if e["type"] == "OccurrenceRecorded"]
    assert [e["type"] for e in timeline] == ["IncidentOpened"] + ["OccurrenceRecorded"] * len(again)
    assert sum(e["data"]["count"] for e in again) == 9
    assert items[0]["version"] == len(timeline)
    assert body["counts"] == {"opened": 1, "deduplicated": 9}
    assert {d["incident_id"] for d in body["items"]} == {items[0]["id"]}
    assert [d["rule"] for d in body["items"]][:2] == [
        "open.no_active_incident",
        "dedup.active_incident",
    ]


async def test_after_resolving_new_incidents_open_until_the_fourth_in_the_window_is_suppressed(
    shared_service: Any,
    producer: AIOKafkaProducer,
    kit: Any,
) -> None:
    svc = shared_service
    async with svc.client("ann") as c:
        for n in range(1, 4):
            await kit.publish(producer, svc.prefix, [kit.envelope(kit.latency())], kit.by_key)

            async def opened(n: int = n) -> list[dict[str, Any]] | None:
                items = await svc.incidents(key=KEY)
                return items if len(items) == n else None

            newest = (await svc.wait_for(opened))[0]
            r = await c.post(f"/api/incidents/{newest['id']}/resolve", json={})
            assert r.status_code == 200, r.text
        fourth = kit.envelope(kit.latency())
        await kit.publish(producer, svc.prefix, [fourth], kit.by_key)

        async def decided() -> dict[str, Any] | None:
            body = (await c.get("/api/detections", params={"key": KEY})).json()
            return body if body["counts"].get("suppressed") else None

        body = await svc.wait_for(decided)
    assert body["counts"] == {"opened": 3, "suppressed": 1}
    last = body["items"][-1]
    assert (last["detection_id"], last["decision"]) == (fourth.id, "suppressed")
    assert last["rule"] == "rate_limit.max_incidents_per_window"
    assert (last["opened_in_window"], last["limit"], last["window_seconds"]) == (3, 3, 3600)
    assert "limit 3 per 1h" in last["reason"]
    assert len(await svc.incidents(key=KEY)) == 3
