"""The periodic sweep in a real watcher process: heartbeats at the configured interval, a
silent agent detected, its recovery reported when an eval arrives; a bad config fails start."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from interventions_events import topics
from interventions_platform.embedded import free_port
from interventions_testkit.processes import ServiceProcess

from .conftest import Got, Stack, cloudevent

SWEEP = {"interval": "1s", "session_timeout": "4s", "freshness": {"default": "2s"}}


@pytest.mark.parametrize("watcher_settings", [SWEEP])
async def test_sweep_emits_heartbeats_and_detects_a_silent_agent(stack: Stack) -> None:
    run = {"run_id": "r1", "agent": "quiet.agent", "invariants": []}
    await stack.send(topics.SIGNALS_EVAL, [("quiet.agent", cloudevent("EvalRunCompleted", run))])
    key = "INV_data_freshness_quiet.agent"

    def stale() -> list[Any]:
        return [d for d in stack.got.of("detections", "InvariantViolated") if d.key == key.encode()]

    def beats() -> list[Got]:
        return stack.got.of("detections", "WatcherHeartbeat")

    await stack.got.wait(lambda: len(stale()) >= 1 and len(beats()) >= 4, timeout=20)
    docs = [b.doc["data"] for b in beats()]
    cycles = [d["cycle"] for d in docs]
    assert cycles == sorted(set(cycles)), "one heartbeat per cycle, in order"
    assert cycles[-1] - cycles[0] == len(cycles) - 1, "no cycle skipped"
    times = [datetime.fromisoformat(d["at"]) for d in docs]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times[1:])]
    assert all(0.5 <= g <= 1.6 for g in gaps), gaps
    assert all(d["checks"] == {"freshness": "ok"} for d in docs)
    assert {b.key for b in beats()} == {b"watcher"}

    evidence = stale()[0].doc["data"]["evidence"]
    assert evidence["agent"] == "quiet.agent" and evidence["invariant"]["threshold"] == 2
    assert evidence["invariant"]["actual"] >= 2 and stale()[0].doc["data"]["hint"] == "critical"

    await stack.send(topics.SIGNALS_EVAL, [("quiet.agent", cloudevent("EvalRunCompleted", run))])

    def recovered() -> list[Any]:
        return [r for r in stack.got.of("detections", "SignalRecovered") if r.key == key.encode()]

    await stack.got.wait(lambda: len(recovered()) >= 1, timeout=10)


async def test_bad_settings_stop_the_watcher_at_start_naming_the_key(
    kafka_bootstrap: str,
    database_url: str,
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "interventions:\n  budgets:\n    inbox.triage:\n      max_p95_latency_ms: fast\n"
    )
    port = free_port()
    proc = ServiceProcess(
        "watcher",
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "DATABASE_URL": database_url,
            "KAFKA_TOPIC_PREFIX": topic_prefix,
            "INTERVENTIONS_SERVICE_PORT": str(port),
            "INTERVENTIONS_CONFIG": str(path),
        },
        port=port,
        log_dir=tmp_path,
    ).start()
    assert proc.proc is not None
    code = await asyncio.to_thread(proc.proc.wait, 30)
    assert code != 0
    assert "interventions.budgets.inbox.triage.max_p95_latency_ms" in proc.logs()
