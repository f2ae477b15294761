"""Scale-out: two replicas each of watcher, incidents, notifier and issue-sync share the work
through their consumer groups. 5,000 failing signals over 200 keys, one replica of each
killed with SIGKILL in the middle: the incidents, pages and tickets are exactly what a single
replica produces (one incident per key with every occurrence counted, one page per sev1
incident, one ticket per incident)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from interventions_events import topics
from interventions_platform.embedded import free_port
from interventions_platform.kafka import ensure_topics
from interventions_testkit.processes import ServiceProcess
from interventions_testkit.standins.github import GitHubStandIn
from interventions_testkit.standins.pagerduty import PagerDutyStandIn

SIGNALS, KEYS, AGENTS = 5000, 200, 20
SERVICES = [
    ("incidents", "incidents"),
    ("watcher", "watcher"),
    ("notifier", "notifier"),
    ("issue-sync", "issue_sync"),
]
SETTINGS = """interventions:
  watcher: {interval: 1h}
  escalation: {ack_timeout: 1h}
  self_alerts: {enabled: false}
  issue_provider:
    provider: github
    config: {token: "${GITHUB_TOKEN}", owner: acme, repo: ops}
  # this test is about replicas agreeing: tracker pacing (tested in issue-sync's own suite)
  # is set far above the 200 tickets it creates, and so is the stand-in's limit
  issue_sync: {poll_interval: 200ms, retry_initial: 200ms, retry_max: 1s, session_timeout: 6s,
               pacing_per_minute: 60000, pacing_burst: 1000}
  notifier:
    # this test is about replicas agreeing; storm grouping and the PagerDuty rate limit
    # (which would fold these 100 pages into a storm alert) are tested in notifier and chaos
    pagerduty: {rate_limit_per_min: 100000, group_threshold: 1000}
    sender: {poll_interval: 200ms}
    timers: {poll_interval: 500ms}
"""


def signal(n: int) -> tuple[bytes, bytes]:
    """The n-th signal: key k = n % KEYS; even keys are critical (sev1, paged), odd medium
    (sev3: Slack only, which is not configured here)."""
    k = n % KEYS
    agent = f"scale.agent-{k % AGENTS}"
    doc = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "scale-test",
        "type": "EvalRunCompleted",
        "time": "2026-11-26T21:00:00Z",
        "data": {
            "run_id": f"run-{n}",
            "agent": agent,
            "invariants": [
                {
                    "id": f"scale_inv_{k:03d}",
                    "name": f"Check {k}",
                    "passed": False,
                    "priority": "critical" if k % 2 == 0 else "medium",
                    "threshold": 1,
                    "actual": 2,
                    "unit": "count",
                }
            ],
        },
    }
    return orjson.dumps(doc), agent.encode()


@dataclass
class Replicas:
    procs: dict[str, list[ServiceProcess]]
    database_url: str

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.logs(1500)}" for ps in self.procs.values() for p in ps)


@pytest.fixture
async def replicas(
    kafka_bootstrap: str, database_url: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[Replicas, PagerDutyStandIn, GitHubStandIn]]:
    pagerduty = PagerDutyStandIn().start()
    github = GitHubStandIn(secondary_limit=100_000).start()
    (tmp_path / "settings.yaml").write_text(SETTINGS)
    await ensure_topics(kafka_bootstrap, topic_prefix)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "INTERVENTIONS_CONFIG": str(tmp_path / "settings.yaml"),
        "INTERVENTIONS_ADMIN_TOKEN": "iv_" + secrets.token_urlsafe(16),
        "PAGERDUTY_EVENTS_URL": pagerduty.url,
        "PAGERDUTY_ROUTING_KEY": "R" * 32,
        "GITHUB_TOKEN": "ghp-test",
        "GITHUB_API_URL": github.url,
        "INTERVENTIONS_LOG_LEVEL": "WARNING",
    }
    procs: dict[str, list[ServiceProcess]] = {}
    for name, module in SERVICES:
        for replica in "ab":
            port = free_port()
            procs.setdefault(name, []).append(
                ServiceProcess(
                    module,
                    {**env, "INTERVENTIONS_SERVICE_PORT": str(port)},
                    port=port,
                    log_dir=tmp_path,
                    name=f"{name}-{replica}",
                ).start()
            )
    r = Replicas(procs, database_url)
    try:
        for ps in procs.values():
            for p in ps:
                await asyncio.to_thread(p.wait_ready, 120)
        yield r, pagerduty, github
    finally:
        for ps in procs.values():
            for p in ps:
                p.stop()
        pagerduty.stop()
        github.stop()


async def test_two_replicas_with_one_killed_produce_exactly_what_one_replica_would(
    replicas: tuple[Replicas, PagerDutyStandIn, GitHubStandIn],
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    stack, pagerduty, github = replicas
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=False, linger_ms=5
    )
    await producer.start()
    topic = topics.full(topics.SIGNALS_EVAL, topic_prefix)
    try:
        await _send(producer, topic, range(SIGNALS // 2))
        await asyncio.sleep(1.0)
        for ps in stack.procs.values():
            ps[1].kill()  # SIGKILL replica b of every service mid-stream
        await _send(producer, topic, range(SIGNALS // 2, SIGNALS))
    finally:
        await producer.stop()

    conn = await asyncpg.connect(stack.database_url)
    try:
        await _converge(conn, pagerduty, github, stack)
        rows = await conn.fetch("SELECT key, severity, occurrences FROM incidents.incidents")
    finally:
        await conn.close()
    assert len(rows) == KEYS, "one incident per key"
    assert Counter(r["key"] for r in rows) == Counter(
        {f"INV_scale_inv_{k:03d}": 1 for k in range(KEYS)}
    )
    assert sum(r["occurrences"] for r in rows) == SIGNALS, "every signal counted exactly once"
    assert {r["occurrences"] for r in rows} == {SIGNALS // KEYS}
    # A replica killed after PagerDuty accepted a trigger but before recording it resends it on
    # takeover; PagerDuty joins a trigger with an open dedup_key to the same alert, so the
    # pages people get are the distinct dedup keys: exactly one per sev1 incident.
    triggers = [b for b in pagerduty.accepted() if b["event_action"] == "trigger"]
    assert len({t["dedup_key"] for t in triggers}) == KEYS // 2, "one page per sev1 incident"
    sev1 = {r["key"] for r in rows if r["severity"] == "sev1"}
    assert len(sev1) == KEYS // 2
    assert github.created == KEYS, "one ticket per incident"
    assert not pagerduty.invalid()


async def _send(producer: AIOKafkaProducer, topic: str, ns: range) -> None:
    futures = []
    for n in ns:
        value, key = signal(n)
        futures.append(await producer.send(topic, value, key=key))
    await asyncio.gather(*futures)


async def _converge(
    conn: asyncpg.Connection,
    pagerduty: PagerDutyStandIn,
    github: GitHubStandIn,
    stack: Replicas,
    timeout: float = 240,
) -> None:
    want = (KEYS, SIGNALS, KEYS // 2, KEYS)
    got: tuple[int, ...] = ()
    try:
        async with asyncio.timeout(timeout):
            while True:
                row = await conn.fetchrow(
                    "SELECT count(*) AS n, coalesce(sum(occurrences), 0) AS occ FROM incidents.incidents"
                )
                triggers = len(
                    {b["dedup_key"] for b in pagerduty.accepted() if b["event_action"] == "trigger"}
                )
                got = (int(row["n"]), int(row["occ"]), triggers, github.created)
                if got == want:
                    await asyncio.sleep(3)  # and nothing more arrives afterwards
                    return
                await asyncio.sleep(0.5)
    except TimeoutError:
        pytest.fail(
            f"no convergence: (incidents, occurrences, pages, tickets) = {got}, "
            f"want {want}\n{stack.logs()}"
        )
