"""The whole stack for end-to-end tests: the REAL services as OS processes (incidents, watcher,
playbooks, notifier, gateway) on free ports, one fresh database, their own topic prefix, all
pointed at each other by the INTERVENTIONS_*_URL variables."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from interventions_events import REGISTRY, topics
from interventions_platform.embedded import free_port
from interventions_platform.kafka import ensure_topics
from interventions_testkit import infra
from interventions_testkit.processes import ServiceProcess

# (service name, module) in start order; the gateway last
SERVICES = [
    ("incidents", "incidents"),
    ("watcher", "watcher"),
    ("playbooks", "playbooks"),
    ("notifier", "notifier"),
    ("gateway", "gateway"),
]
USERS = {
    "viewer": ("vic@example.com", "viewer"),
    "responder": ("rita@example.com", "responder"),
    "approver": ("ann@example.com", "approver"),
    "producer": ("ci-bot", "producer"),
}
FAST = {
    "watcher": {"interval": "1h"},
    "notifier": {
        "sse": {"heartbeat": "2s", "poll_interval": "100ms"},
        "sender": {"poll_interval": "200ms"},
        "timers": {"poll_interval": "500ms"},
    },
    "escalation": {"ack_timeout": "1h"},
    "self_alerts": {"enabled": False},  # the suites count incidents; a storm alert adds one
    "playbooks": {
        "approval_required_for_severities": ["sev1"],
        "expiry_check_interval": "1s",
        "execution_timeout": "30s",
    },
    "approvals": {"ttl": "10m"},
}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def missing_services() -> list[str]:
    return [m for _, m in SERVICES if importlib.util.find_spec(f"{m}.__main__") is None]


@dataclass
class Stack:
    url: str
    prefix: str
    bootstrap: str
    database_url: str
    tokens: dict[str, str]
    names: dict[str, str]
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    producer: AIOKafkaProducer | None = None

    async def publish_signal(self, doc: dict[str, Any], key: str) -> None:
        assert self.producer is not None
        topic = topics.full(REGISTRY[doc["type"]].topic, self.prefix)
        await self.producer.send_and_wait(topic, orjson.dumps(doc), key=key.encode())

    def client(self, role: str = "approver") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, timeout=10, headers={"authorization": f"Bearer {self.tokens[role]}"}
        )

    async def incident_by_key(self, key: str, timeout: float = 20) -> dict[str, Any]:
        async with self.client("viewer") as client, asyncio.timeout(timeout):
            while True:
                resp = await client.get("/api/incidents", params={"key": key, "status": "open"})
                items = resp.json().get("items", []) if resp.status_code == 200 else []
                if items:
                    return dict(items[0])
                await asyncio.sleep(0.1)

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.logs(2000)}" for n, p in self.procs.items())


def failing_eval(
    name: str, agent: str = "inbox.triage", priority: str = "critical"
) -> tuple[dict[str, Any], str]:
    """An EvalRunCompleted whose freshness invariant fails: (CloudEvent, incident key)."""
    inv_id = f"data_freshness_{uuid.uuid4().hex[:8]}"
    doc = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "e2e-tests",
        "type": "EvalRunCompleted",
        "data": {
            "run_id": f"run-{uuid.uuid4().hex[:6]}",
            "agent": agent,
            "task_id": "t-1",
            "invariants": [
                {
                    "id": inv_id,
                    "name": name,
                    "passed": False,
                    "priority": priority,
                    "threshold": 300,
                    "actual": 1800,
                    "unit": "seconds",
                    "message": "data is 1800 s old",
                }
            ],
        },
    }
    return doc, f"INV_{inv_id}"


def settings(tokens: dict[str, str]) -> dict[str, Any]:
    entries = [
        {
            "name": USERS[role][0],
            "roles": [USERS[role][1]],
            "hash": hashlib.sha256(tok.encode()).hexdigest(),
        }
        for role, tok in tokens.items()
        if role in USERS
    ]
    return {"interventions": {**FAST, "auth": {"tokens": entries}}}


@pytest.fixture(scope="session")
async def stack(
    kafka_bootstrap: str, pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Every service as a real process; skipped while a service has no __main__ yet."""
    missing = missing_services()
    if missing:
        pytest.skip(f"service package(s) without __main__ yet: {', '.join(missing)}")
    root = tmp_path_factory.mktemp("stack")
    database_url = await infra.create_database(pg_admin_dsn)
    prefix = f"e{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, prefix)
    tokens = {role: "iv_" + secrets.token_urlsafe(24) for role in USERS}
    tokens["admin"] = "iv_" + secrets.token_urlsafe(24)
    (root / "settings.yaml").write_text(yaml.safe_dump(settings(tokens)))
    ports = {name: free_port() for name, _ in SERVICES}
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": prefix,
        "INTERVENTIONS_CONFIG": str(root / "settings.yaml"),
        "INTERVENTIONS_ADMIN_TOKEN": tokens["admin"],
        "INTERVENTIONS_CONSOLE_URL": f"http://127.0.0.1:{ports['gateway']}",
        "INTERVENTIONS_HTTP_PORT": str(ports["gateway"]),
        **{
            f"INTERVENTIONS_{n.upper().replace('-', '_')}_URL": f"http://127.0.0.1:{p}"
            for n, p in ports.items()
            if n != "gateway"
        },
    }
    procs = {
        name: ServiceProcess(
            module,
            {**env, "INTERVENTIONS_SERVICE_PORT": str(ports[name])},
            port=ports[name],
            log_dir=root,
            name=name,
        )
        for name, module in SERVICES
    }
    s = Stack(
        f"http://127.0.0.1:{ports['gateway']}",
        prefix,
        kafka_bootstrap,
        database_url,
        tokens,
        {r: u[0] for r, u in USERS.items()},
        procs,
    )
    try:
        for proc in procs.values():
            proc.start()
        for proc in procs.values():
            await asyncio.to_thread(proc.wait_ready, 90)
        s.producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
        await s.producer.start()
        await warm_up(s)
        yield s
    finally:
        if s.producer is not None:
            await s.producer.stop()
        for proc in reversed(procs.values()):
            proc.stop()
        await infra.drop_database(pg_admin_dsn, database_url)


async def warm_up(s: Stack) -> None:
    """One signal all the way to an incident, so every consumer group has its partitions."""
    doc, key = failing_eval("Warm-up freshness", priority="low")
    await s.publish_signal(doc, "inbox.triage")
    try:
        await s.incident_by_key(key, timeout=60)
    except TimeoutError:
        raise AssertionError(f"the stack never opened the warm-up incident:\n{s.logs()}") from None
