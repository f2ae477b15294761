"""Fixtures: the incident service as a real process on a free port, with its own database,
topic prefix and settings; helpers to publish detections and call the API."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from interventions_events import Envelope, Event, encode, topics
from interventions_events.detections import BudgetExceeded, InvariantViolated, PlannerRegressed
from interventions_platform.embedded import free_port
from interventions_testkit import infra
from interventions_testkit.processes import ServiceProcess

ADMIN = "admin-token-e2e"
TOKENS = {"viewer": "viewer-token", "ann": "ann-token", "bob": "bob-token"}
NAMES = {"viewer": "viewer@example.com", "ann": "ann@example.com", "bob": "bob@example.com"}
ROLES = {"viewer": "viewer", "ann": "responder", "bob": "responder"}


def settings_yaml(incidents: str, extra: str = "") -> str:
    tokens = "\n".join(
        f"      - {{name: {NAMES[k]}, hash: {hashlib.sha256(v.encode()).hexdigest()}, "
        f"roles: [{ROLES[k]}]}}"
        for k, v in TOKENS.items()
    )
    # self-alerts off: these suites count incidents, and a storm alert would add a platform one
    return (
        f"interventions:\n  incidents: {incidents}\n  self_alerts: {{enabled: false}}\n"
        f"  auth:\n    tokens:\n{tokens}\n{extra}"
    )


class Service:
    """A running `python -m incidents` and what a test needs to drive it."""

    def __init__(
        self, tmp: Path, bootstrap: str, dsn: str, prefix: str, incidents: str, extra: str = ""
    ):
        self.bootstrap, self.dsn, self.prefix = bootstrap, dsn, prefix
        self.config = tmp / "settings.yaml"
        self.config.write_text(settings_yaml(incidents, extra))
        self.port = free_port()
        self.env = {
            "DATABASE_URL": dsn,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC_PREFIX": prefix,
            "INTERVENTIONS_ADMIN_TOKEN": ADMIN,
            "INTERVENTIONS_CONFIG": str(self.config),
            "INTERVENTIONS_SERVICE_PORT": str(self.port),
        }
        self.proc = self.spawn()

    def spawn(self) -> ServiceProcess:
        proc = ServiceProcess("incidents", self.env, port=self.port).start()
        proc.wait_ready(60)
        return proc

    def restart(self) -> None:
        self.proc = self.spawn()

    def client(self, who: str | None = "ann") -> httpx.AsyncClient:
        token = ADMIN if who == "admin" else TOKENS.get(who or "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.proc.url, headers=headers, timeout=30)

    async def wait_for(self, check: Callable[[], Any], timeout: float = 30) -> Any:
        """Poll an async check until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            result = await check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; last result {result!r}\n{self.proc.logs()}")
            await asyncio.sleep(0.1)

    async def incidents(self, **params: Any) -> list[dict[str, Any]]:
        async with self.client("viewer") as c:
            r = await c.get("/api/incidents", params={"limit": 500, **params})
            assert r.status_code == 200, r.text
            return list(r.json()["items"])


@pytest.fixture
def service_factory(
    tmp_path: Path, kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def make(incidents: str = "{verification_check_interval: 100ms}", extra: str = "") -> Service:
        """`extra`: more settings.yaml lines inside the `interventions:` block."""
        svc = Service(tmp_path, kafka_bootstrap, database_url, topic_prefix, incidents, extra)
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.proc.stop()


@pytest.fixture(scope="module")
async def shared_service(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, pg_admin_dsn: str
) -> AsyncIterator[Service]:
    """One service for a module of read-mostly tests (own database and prefix)."""
    dsn = await infra.create_database(pg_admin_dsn)
    prefix = f"t{uuid.uuid4().hex[:10]}."
    svc = Service(
        tmp_path_factory.mktemp("incidents"),
        kafka_bootstrap,
        dsn,
        prefix,
        "{verification_period: 1s, verification_check_interval: 100ms}",
    )
    try:
        yield svc
    finally:
        svc.proc.stop()
        await infra.drop_database(pg_admin_dsn, dsn)


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False, linger_ms=5)
    await p.start()
    yield p
    await p.stop()


async def publish(
    producer: AIOKafkaProducer,
    prefix: str,
    events: list[Envelope[Event]],
    key_of: Callable[[Event], str],
) -> None:
    """Publish envelopes on their topics (pipelined), keyed as DESIGN.md says."""
    futures = [
        await producer.send(
            topics.full(e.data.topic, prefix), encode(e), key=key_of(e.data).encode()
        )
        for e in events
    ]
    await asyncio.gather(*futures)


def detection_envelope(data: Event, event_id: str | None = None) -> Envelope[Event]:
    return Envelope(
        data=data,
        source="interventions/watcher",
        id=event_id or str(uuid.uuid4()),
        subject=getattr(data, "key", None),
    )


NOW = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)


def freshness() -> InvariantViolated:
    """Scenario 1 of the guide: data freshness invariant failure."""
    return InvariantViolated(
        kind="invariant",
        key="INV_data_freshness_inbox",
        subject="inbox.triage",
        observed_at=NOW,
        source_event_id="run-42",
        hint="critical",
        evidence={
            "invariant": {
                "id": "data_freshness_inbox",
                "name": "Data freshness",
                "threshold": 300,
                "actual": 1800,
                "unit": "seconds",
                "message": "inbox data is 1800 s old",
            },
            "agent": "inbox.triage",
            "run_id": "run-42",
            "task_id": "triage-001",
        },
    )


def latency(key: str = "BUDGET_inbox.triage_latency_p95") -> BudgetExceeded:
    """Scenario 2: p95 latency budget breach."""
    return BudgetExceeded(
        kind="budget",
        key=key,
        subject="inbox.triage",
        observed_at=NOW,
        source_event_id="sig-1",
        hint="error",
        evidence={
            "violation": {
                "budget_type": "latency_p95",
                "threshold": 1000,
                "actual": 1850,
                "message": "p95 1850 > 1000",
            },
            "agent": "inbox.triage",
            "source": "watcher",
            "current_metrics": {"p95_latency_ms": 1850},
        },
    )


def canary() -> PlannerRegressed:
    """Scenario 3: planner canary accuracy regression."""
    return PlannerRegressed(
        kind="planner",
        key="PLANNER_REG_v1.2.3-canary",
        subject="v1.2.3-canary",
        observed_at=NOW,
        source_event_id="canary-1",
        hint=None,
        evidence={
            "regression": {"metric": "accuracy", "baseline": 0.92, "current": 0.79, "drop": 0.13},
            "version": "v1.2.3-canary",
            "baseline_version": "v1.2.2",
            "canary_percent": 10,
            "samples": 200,
        },
    )


def by_key(data: Event) -> str:
    return str(getattr(data, "key", ""))


class Kit:
    """Helpers for test modules (importlib mode: tests cannot import conftest)."""

    publish = staticmethod(publish)
    envelope = staticmethod(detection_envelope)
    freshness = staticmethod(freshness)
    latency = staticmethod(latency)
    canary = staticmethod(canary)
    by_key = staticmethod(by_key)
    tokens = TOKENS
    names = NAMES


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit
