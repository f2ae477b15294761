"""The playbooks service as a real process on a real broker and PostgreSQL, with its targets:
an Elasticsearch stand-in, the fixture dbt project, and a custom action package installed
into a directory on its PYTHONPATH (a real distribution with an entry point)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from interventions_events import Envelope, decode, encode
from interventions_events.incidents import IncidentOpened
from interventions_platform.embedded import free_port
from interventions_testkit import infra
from interventions_testkit.processes import ServiceProcess
from interventions_testkit.standins.elasticsearch import ElasticsearchStandIn, IndexState

from ..conftest import FIXTURES, make_dbt_project

REPO = Path(__file__).resolve().parents[4]
ROLES = {
    "viewer": ["viewer"],
    "responder": ["responder"],
    "approver": ["approver"],
    "approver2": ["approver"],
}
ADMIN_TOKEN = "iv_test_admin_" + uuid.uuid4().hex
INDICES = ("emails", "knowledge", "approved-once", "expired", "rated", "self-approved")


@dataclass
class Stack:
    url: str
    bootstrap: str
    prefix: str
    database_url: str
    es: ElasticsearchStandIn
    tokens: dict[str, str]
    proc: ServiceProcess

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, who: str, method: str, path: str, json: Any = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            return await client.request(method, path, json=json, headers=self.auth(who))

    async def open_incident(
        self,
        incident_id: int,
        *,
        severity: str = "sev2",
        playbooks: tuple[str, ...] = (),
        details: dict[str, Any] | None = None,
        status: str = "open",
    ) -> None:
        """Publish IncidentOpened (with its `incident` snapshot) and wait until it is known."""
        snap = {
            "id": incident_id,
            "kind": "budget",
            "key": f"KEY_{incident_id}",
            "severity": severity,
            "status": status,
            "summary": "test",
            "details": details or {},
            "playbooks": list(playbooks),
            "version": 1,
        }
        event = IncidentOpened(
            incident_id=incident_id,
            at=datetime.now(UTC),
            kind="budget",
            key=snap["key"],
            severity=severity,
            summary="test",  # type: ignore[arg-type]
            details=snap["details"],
            playbooks=playbooks,
            owner_team="t",
            detection_id=uuid.uuid4().hex,
            rule="test",
            incident=snap,
        )
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            await producer.send_and_wait(
                self.prefix + "incidents",
                encode(Envelope(event, "test")),
                key=str(incident_id).encode(),
            )
        finally:
            await producer.stop()
        for _ in range(200):
            # invalid params: 404 while the incident is unknown, 422 once it is (nothing recorded)
            probe = await self.call(
                "responder",
                "POST",
                f"/api/playbooks/incidents/{incident_id}/actions/dry-run",
                {"action_type": "custom_echo", "params": {}},
            )
            if probe.status_code == 422:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"incident {incident_id} never reached the service:\n{self.proc.logs()}")


async def read_topic(bootstrap: str, topic: str) -> list[tuple[str | None, Envelope[Any]]]:
    """Every record currently on `topic`, as (key, envelope)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [
                TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or {0})
            ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[tuple[str | None, Envelope[Any]]] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out += [(r.key.decode() if r.key else None, decode(r.value)) for r in records]
        return out
    finally:
        await consumer.stop()


def install_custom_package(target: Path) -> None:
    """A real install (dist-info with the entry point) into `target`."""
    uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    argv = [
        uv,
        "pip",
        "install",
        "--no-deps",
        "--target",
        str(target),
        str(FIXTURES / "custom_action_pkg"),
    ]
    if subprocess.run([*argv, "--offline"], capture_output=True).returncode != 0:
        subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture(scope="package")
def es_module() -> Iterator[ElasticsearchStandIn]:
    standin = ElasticsearchStandIn(indices={n: IndexState() for n in INDICES}).start()
    try:
        yield standin
    finally:
        standin.stop()


def settings_yaml(tokens: dict[str, str]) -> str:
    lines = [
        "interventions:",
        "  approvals: {ttl: 3s}",
        "  playbooks:",
        "    approval_required_for_severities: [sev1]",
        "    rate_limit: {max_executions: 2, window: 1h}",
        "    circuit_breaker: {failure_threshold: 2}",
        "    expiry_check_interval: 200ms",
        "    execution_timeout: 60s",
        "    elasticsearch: {url: '${ELASTICSEARCH_URL}'}",
        "  auth:",
        "    tokens:",
    ]
    for name, token in tokens.items():
        lines.append(
            f"      - {{name: {name}@example.com, hash: "
            f"{hashlib.sha256(token.encode()).hexdigest()}, roles: {ROLES[name]}}}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="package")
async def stack(
    kafka_bootstrap: str,
    pg_admin_dsn: str,
    es_module: ElasticsearchStandIn,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("playbooks-e2e")
    database_url = await infra.create_database(pg_admin_dsn)
    project, profiles = make_dbt_project(root, database_url)
    install_custom_package(root / "site")
    tokens = {name: "iv_" + uuid.uuid4().hex for name in ROLES}
    (root / "settings.yaml").write_text(settings_yaml(tokens))
    port, prefix = free_port(), f"t{uuid.uuid4().hex[:10]}."
    proc = ServiceProcess(
        "playbooks",
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "DATABASE_URL": database_url,
            "KAFKA_TOPIC_PREFIX": prefix,
            "INTERVENTIONS_SERVICE_PORT": str(port),
            "INTERVENTIONS_CONFIG": str(root / "settings.yaml"),
            "INTERVENTIONS_ADMIN_TOKEN": ADMIN_TOKEN,
            "ELASTICSEARCH_URL": es_module.url,
            "DBT_PROJECT_DIR": str(project),
            "DBT_PROFILES_DIR": str(profiles),
            "PYTHONPATH": str(root / "site"),
        },
        port=port,
    ).start()
    try:
        proc.wait_ready(60)
        yield Stack(
            proc.url,
            kafka_bootstrap,
            prefix,
            database_url,
            es_module,
            {**tokens, "admin": ADMIN_TOKEN},
            proc,
        )
    finally:
        proc.stop()
        await infra.drop_database(pg_admin_dsn, database_url)
