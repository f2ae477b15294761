"""The notifier as a real process against the real broker and PostgreSQL, with PagerDuty and
Slack stand-ins; incident events are published the way the incident service publishes them."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from interventions_events import Envelope, Event, decode, encode, topics
from interventions_events import incidents as ev
from interventions_platform.embedded import free_port
from interventions_platform.kafka import ensure_topics
from interventions_testkit.processes import ServiceProcess
from interventions_testkit.standins.pagerduty import PagerDutyStandIn
from interventions_testkit.standins.slack import SlackStandIn

ROUTING_KEY = "R0UT1NGKEY0000000000000000000001"
TEAM = "data-platform"

FAST = {
    "sse": {"heartbeat": "1s", "client_buffer": 50, "poll_interval": "200ms"},
    "sender": {"poll_interval": "100ms"},
    "timers": {"poll_interval": "100ms"},
    "slack": {"coalesce_window": "300ms", "retry": {"backoff_base": "50ms"}},
    "pagerduty": {"retry": {"backoff_base": "50ms", "max_attempts": 4}},
}


def now() -> datetime:
    return datetime.now(UTC)


def snapshot(
    incident_id: int, severity: str = "sev1", status: str = "open", version: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "id": incident_id,
        "kind": "invariant",
        "key": f"INV_check_{incident_id}",
        "severity": severity,
        "status": status,
        "version": version,
        "summary": f"Data freshness violation for inbox.triage ({incident_id})",
        "details": {"invariant": {"threshold": 300, "actual": 1800}},
        "owner_team": TEAM,
        "issue_url": None,
        **extra,
    }


def opened(incident_id: int, severity: str = "sev1", **extra: Any) -> Envelope[Event]:
    snap = snapshot(incident_id, severity, **extra)
    return Envelope(
        source="test/incidents",
        data=ev.IncidentOpened(
            incident_id=incident_id,
            at=now(),
            kind="invariant",
            key=snap["key"],
            severity=severity,
            summary=snap["summary"],
            details=snap["details"],
            owner_team=TEAM,
            detection_id="d",
            rule="opened",
            incident=snap,
        ),
    )


def acknowledged(incident_id: int, severity: str = "sev1", version: int = 2) -> Envelope[Event]:
    return Envelope(
        source="test/incidents",
        data=ev.IncidentAcknowledged(
            incident_id=incident_id,
            at=now(),
            by="alice",
            incident=snapshot(incident_id, severity, "acknowledged", version),
        ),
    )


def resolved(incident_id: int, severity: str = "sev1", version: int = 3) -> Envelope[Event]:
    return Envelope(
        source="test/incidents",
        data=ev.IncidentResolved(
            incident_id=incident_id,
            at=now(),
            by="alice",
            incident=snapshot(incident_id, severity, "resolved", version),
        ),
    )


async def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


class Bus:
    """Publishes incident events and collects everything on `notifications`."""

    def __init__(self, bootstrap: str, prefix: str):
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.sent: list[bytes] = []
        self.notifications: list[tuple[float, Event]] = []
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, self.prefix)
        await self._producer.start()
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._producer.stop()

    async def publish(self, *envs: Envelope[Event]) -> None:
        for env in envs:
            raw = encode(env)
            self.sent.append(raw)
            key = str(getattr(env.data, "incident_id", "")).encode()
            await self._producer.send_and_wait(
                topics.full(topics.INCIDENTS, self.prefix), raw, key=key
            )

    async def redeliver_everything(self) -> None:
        """Publish every record sent so far once more, byte for byte (same event ids)."""
        for raw in list(self.sent):
            key = str(decode(raw).data.incident_id).encode()  # type: ignore[attr-defined]
            await self._producer.send_and_wait(
                topics.full(topics.INCIDENTS, self.prefix), raw, key=key
            )

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for _, e in self.notifications if isinstance(e, kind)]

    def timed(self, kind: type[Event]) -> list[tuple[float, Any]]:
        return [(t, e) for t, e in self.notifications if isinstance(e, kind)]

    async def _collect(self) -> None:
        consumer = AIOKafkaConsumer(
            topics.full(topics.NOTIFICATIONS, self.prefix),
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            async for rec in consumer:
                self.notifications.append((time.monotonic(), decode(rec.value or b"").data))
        finally:
            await consumer.stop()


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyStandIn]:
    standin = PagerDutyStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    standin = SlackStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
async def bus(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Bus]:
    b = Bus(kafka_bootstrap, topic_prefix)
    await b.start()
    yield b
    await b.stop()


class Notifiers:
    """Starts notifier processes (replicas share the database) with one settings file."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp = tmp
        self.env = env
        self.token = env["INTERVENTIONS_ADMIN_TOKEN"]
        self.procs: list[ServiceProcess] = []

    def configure(
        self, notifier: dict[str, Any] | None = None, escalation: dict[str, Any] | None = None
    ) -> None:
        doc = {
            "interventions": {
                "notifier": {**FAST, **(notifier or {})},
                "escalation": escalation or {"ack_timeout": "1h"},
            }
        }
        path = self.tmp / "settings.yaml"
        path.write_text(yaml.safe_dump(doc))
        self.env["INTERVENTIONS_CONFIG"] = str(path)

    def start(self, count: int = 1, **extra_env: str) -> list[ServiceProcess]:
        started = []
        for _ in range(count):
            port = free_port()
            proc = ServiceProcess(
                "notifier",
                {**self.env, **extra_env, "INTERVENTIONS_SERVICE_PORT": str(port)},
                port=port,
                log_dir=self.tmp,
            ).start()
            started.append(proc)
        for proc in started:
            proc.wait_ready(60)
        self.procs += started
        return started

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.kill()


@pytest.fixture
def notifiers(
    tmp_path: Path,
    kafka_bootstrap: str,
    database_url: str,
    topic_prefix: str,
    pagerduty: PagerDutyStandIn,
    slack: SlackStandIn,
) -> Iterator[Notifiers]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "INTERVENTIONS_ADMIN_TOKEN": "iv_" + secrets.token_urlsafe(24),
        "PAGERDUTY_EVENTS_URL": pagerduty.url,
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "SLACK_WEBHOOK_URL": slack.webhook_url,
        "INTERVENTIONS_CONSOLE_URL": "http://console.test",
    }
    n = Notifiers(tmp_path, env)
    n.configure()
    yield n
    n.stop_all()
