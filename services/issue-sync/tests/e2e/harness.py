"""Run issue-sync as a real process against the real broker and PostgreSQL, a vendor
stand-in, and incident events published the way the incident service publishes them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from interventions_events import Envelope, Event, decode, encode, topics
from interventions_events import actions as act
from interventions_events import incidents as inc
from interventions_platform.embedded import free_port
from interventions_testkit.processes import ServiceProcess
from interventions_testkit.standins.github import StandIn

T = TypeVar("T")
ADMIN = "issue-sync-e2e-admin"
PROVIDER_BLOCK = {
    "github": (
        "provider: github\n    config:\n      token: ${GITHUB_TOKEN}\n"
        "      owner: acme\n      repo: ops"
    ),
    "gitlab": "provider: gitlab\n    config: {}",
    "jira": "provider: jira\n    config: {}",
}


def settings_yaml(
    path: Path, provider: str, severities: str = "[sev1, sev2, sev3, sev4]", auth_retry: str = "15m"
) -> Path:
    path.write_text(f"""interventions:
  enabled: true
  issue_provider:
    {PROVIDER_BLOCK[provider]}
    severities: {severities}
  issue_sync:
    poll_interval: 200ms
    retry_initial: 200ms
    retry_max: 1s
    request_timeout: 3s
    session_timeout: 2s
    auth_retry: {auth_retry}
""")
    return path


def provider_env(provider: str, standin: StandIn) -> dict[str, str]:
    return {
        "github": {"GITHUB_TOKEN": "ghp-test", "GITHUB_API_URL": standin.url},
        "gitlab": {
            "GITLAB_URL": standin.url,
            "GITLAB_TOKEN": "glpat-test",
            "GITLAB_PROJECT_ID": "77",
        },
        "jira": {
            "JIRA_URL": standin.url,
            "JIRA_EMAIL": "bot@example.com",
            "JIRA_API_TOKEN": "jira-test",
            "JIRA_PROJECT_KEY": "OPS",
        },
    }[provider]


def service(
    config: Path,
    provider: str,
    standin: StandIn,
    *,
    bootstrap: str,
    db: str,
    prefix: str,
    port: int | None = None,
    **extra: str,
) -> ServiceProcess:
    port = port or free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": db,
        "KAFKA_TOPIC_PREFIX": prefix,
        "INTERVENTIONS_CONFIG": str(config),
        "INTERVENTIONS_SERVICE_PORT": str(port),
        "INTERVENTIONS_ADMIN_TOKEN": ADMIN,
        "INTERVENTIONS_CONSOLE_URL": "http://console.test",
        **provider_env(provider, standin),
        **extra,
    }
    return ServiceProcess("issue_sync", env, port=port, name="issue-sync")


def snapshot(incident_id: int, status: str = "open", severity: str = "sev1") -> dict[str, Any]:
    return {
        "id": incident_id,
        "kind": "invariant",
        "key": "INV_data_freshness_inbox",
        "severity": severity,
        "status": status,
        "summary": "Data freshness violation for inbox.triage",
        "details": {
            "invariant": {
                "id": "data_freshness_inbox",
                "name": "Data freshness",
                "threshold": 300,
                "actual": 1800,
                "unit": "seconds",
            },
            "agent": "inbox.triage",
        },
        "playbooks": ["rerun_eval", "rerun_dbt"],
        "owner_team": "data-platform",
        "issue_url": None,
    }


def now() -> datetime:
    return datetime.now(UTC)


def opened(incident_id: int, severity: str = "sev1") -> inc.IncidentOpened:
    snap = snapshot(incident_id, severity=severity)
    return inc.IncidentOpened(
        incident_id=incident_id,
        at=now(),
        incident=snap,
        kind="invariant",
        key=snap["key"],
        severity=severity,
        summary=snap["summary"],
        details=snap["details"],  # type: ignore[arg-type]
        playbooks=("rerun_eval", "rerun_dbt"),
        owner_team="data-platform",
        detection_id="det-1",
        rule="opened",
    )


def lifecycle(
    incident_id: int, cls: type[inc.IncidentEvent], status: str, **fields: Any
) -> inc.IncidentEvent:
    return cls(
        incident_id=incident_id,
        at=now(),
        by="ana@example.com",
        incident=snapshot(incident_id, status),
        **fields,
    )


def action_succeeded(incident_id: int) -> act.ActionSucceeded:
    return act.ActionSucceeded(
        execution_id="ex-1",
        incident_id=incident_id,
        action_type="rerun_dbt",
        actor="ana@example.com",
        at=now(),
        result={"models": 2},
        duration_ms=1200,
    )


@dataclass
class Bus:
    bootstrap: str
    prefix: str
    producer: AIOKafkaProducer | None = None
    seen: list[Envelope[Event]] = field(default_factory=list)

    async def start(self) -> Bus:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=False)
        await self.producer.start()
        return self

    async def publish(self, *events: Event) -> None:
        assert self.producer is not None
        for e in events:
            key = str(getattr(e, "incident_id", "")).encode()
            await self.producer.send_and_wait(
                topics.full(e.topic, self.prefix), encode(Envelope(data=e, source="e2e")), key=key
            )

    async def issue_events(
        self, want: Callable[[list[Envelope[Event]]], bool], timeout: float = 20
    ) -> list[Envelope[Event]]:
        """Read the `issues` topic from the start until `want` holds."""
        consumer = AIOKafkaConsumer(
            topics.full(topics.ISSUES, self.prefix),
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        got: list[Envelope[Event]] = []
        try:
            deadline = time.monotonic() + timeout
            while not want(got) and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=300)
                for records in batch.values():
                    got += [decode(r.value) for r in records if r.value]
        finally:
            await consumer.stop()
        return got

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()


async def eventually(
    probe: Callable[[], T | None], timeout: float = 20.0, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def sync_state(proc: ServiceProcess, incident_id: int) -> dict[str, Any] | None:
    r = httpx.get(
        f"{proc.url}/api/issue-sync/incidents/{incident_id}",
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=5,
    )
    return r.json() if r.status_code == 200 else None
