"""`interventions replay` over a time range and `projections rebuild` against the live model."""

from __future__ import annotations

import json
import re
from typing import Any

from incidents import commands as c


async def small_history(script: Any, kit: Any) -> int:
    await script.detect(kit.freshness(), 0)
    iid = int(await script.last_id())
    await script.detect(kit.freshness(), 2)  # deduplicated
    await script.do(c.Acknowledge(iid, "ann@example.com"), 3)
    await script.detect(kit.latency(), 10)
    await script.do(c.Resolve(iid, "ann@example.com", resolution="false_positive"), 40)
    return iid


async def test_replay_returns_the_events_of_the_range_in_global_order(
    script: Any, kit: Any
) -> None:
    await small_history(script, kit)
    done = script.cli(
        "replay",
        "--from",
        "2026-11-26T21:02:00Z",
        "--to",
        "2026-11-26T21:40:00Z",
        "--format",
        "json",
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["type"] for e in events] == [
        "DetectionDecided",
        "OccurrenceRecorded",
        "IncidentAcknowledged",
        "DetectionDecided",
        "IncidentOpened",
    ]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)


async def test_replay_filters_by_type_and_stream(script: Any, kit: Any) -> None:
    iid = await small_history(script, kit)
    done = script.cli(
        "replay",
        "--from",
        "2026-11-26T20:00:00Z",
        "--to",
        "2026-11-27T00:00:00Z",
        "--type",
        "DetectionDecided",
        "--stream",
        "key-INV_*",
        "--format",
        "json",
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["data"]["decision"] for e in events] == ["opened", "deduplicated"]
    table = script.cli(
        "replay", "--from", "2026-11-26T20:00:00Z", "--stream", f"incident-{iid}"
    ).stdout
    assert "4 event(s)" in table and "resolution=false_positive" in table


async def test_rebuild_twice_gives_the_same_hash_as_the_live_read_model(
    script: Any, kit: Any
) -> None:
    await small_history(script, kit)
    live = re.findall(r"[0-9a-f]{64}", script.cli("projections", "hash").stdout)
    first = re.findall(r"[0-9a-f]{64}", script.cli("projections", "rebuild").stdout)
    second = re.findall(r"[0-9a-f]{64}", script.cli("projections", "rebuild").stdout)
    assert len(live) == 1 and live == first == second
