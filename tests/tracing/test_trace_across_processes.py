"""One trace across processes: a signal's trace id reaches the watcher, incident service and
notifier spans, the PagerDuty call and the GitHub issue, over HTTP ingest and from Kafka.

Every service runs as a real process (fresh database, own topic prefix, free ports) and
exports its spans as JSON lines (INTERVENTIONS_TRACE_FILE, one file per process); PagerDuty
and GitHub are the checking stand-ins."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from interventions_events import topics
from interventions_platform.embedded import free_port
from interventions_platform.kafka import ensure_topics
from interventions_testkit import infra
from interventions_testkit.processes import ServiceProcess
from interventions_testkit.standins.github import GitHubStandIn
from interventions_testkit.standins.pagerduty import PagerDutyStandIn

SERVICES = [
    ("incidents", "incidents"),
    ("watcher", "watcher"),
    ("notifier", "notifier"),
    ("issue-sync", "issue_sync"),
    ("gateway", "gateway"),
]
ROUTING_KEY = "TRACEKEY000000000000000000000001"
SETTINGS = {
    "interventions": {
        "watcher": {"interval": "1h"},
        "self_alerts": {"enabled": False},
        "notifier": {
            "sender": {"poll_interval": "100ms"},
            "timers": {"poll_interval": "500ms"},
        },
        "escalation": {"ack_timeout": "1h"},
        "issue_provider": {
            "provider": "github",
            "config": {"token": "${GITHUB_TOKEN}", "owner": "acme", "repo": "ops"},
            "severities": ["sev1"],
        },
        "issue_sync": {"poll_interval": "200ms", "session_timeout": "3s"},
    }
}


@dataclass
class Stack:
    gateway: str
    prefix: str
    admin: str
    traces: Path
    procs: dict[str, ServiceProcess]
    pagerduty: PagerDutyStandIn
    github: GitHubStandIn

    def spans(self) -> list[dict[str, Any]]:
        out = []
        for path in self.traces.glob("*.jsonl"):
            out += [json.loads(line) for line in path.read_text().splitlines() if line]
        return out

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.logs(3000)}" for n, p in self.procs.items())


@pytest.fixture(scope="module")
def pagerduty() -> Iterator[PagerDutyStandIn]:
    standin = PagerDutyStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubStandIn]:
    standin = GitHubStandIn()
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap: str,
    pg_admin_dsn: str,
    tmp_path_factory: pytest.TempPathFactory,
    pagerduty: PagerDutyStandIn,
    github: GitHubStandIn,
) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("tracing")
    traces = root / "spans"
    traces.mkdir()
    database_url = await infra.create_database(pg_admin_dsn)
    prefix = f"tr{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, prefix)
    (root / "settings.yaml").write_text(yaml.safe_dump(SETTINGS))
    admin = "iv_" + secrets.token_urlsafe(24)
    ports = {name: free_port() for name, _ in SERVICES}
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": prefix,
        "INTERVENTIONS_CONFIG": str(root / "settings.yaml"),
        "INTERVENTIONS_ADMIN_TOKEN": admin,
        "PAGERDUTY_EVENTS_URL": pagerduty.url,
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "GITHUB_TOKEN": "ghp-test",
        "GITHUB_API_URL": github.url,
        "INTERVENTIONS_HTTP_PORT": str(ports["gateway"]),  # the gateway's pinned port variable
        **{
            f"INTERVENTIONS_{n.upper().replace('-', '_')}_URL": f"http://127.0.0.1:{p}"
            for n, p in ports.items()
            if n != "gateway"
        },
    }
    procs = {
        name: ServiceProcess(
            module,
            {
                **env,
                "INTERVENTIONS_SERVICE_PORT": str(ports[name]),
                "INTERVENTIONS_TRACE_FILE": str(traces / f"{name}.jsonl"),
            },
            port=ports[name],
            log_dir=root,
            name=name,
        )
        for name, module in SERVICES
    }
    try:
        for proc in procs.values():
            proc.start()
        for proc in procs.values():
            await asyncio.to_thread(proc.wait_ready, 90)
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        yield Stack(gateway, prefix, admin, traces, procs, pagerduty, github)
    finally:
        for proc in reversed(procs.values()):
            proc.stop()
        await infra.drop_database(pg_admin_dsn, database_url)


def failing_eval(agent: str, traceparent: str | None = None) -> dict[str, Any]:
    """A critical invariant failure (sev1: pages PagerDuty)."""
    inv = f"trace_{uuid.uuid4().hex[:8]}"
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "tracing-tests",
        "type": "EvalRunCompleted",
        "data": {
            "run_id": f"run-{uuid.uuid4().hex[:6]}",
            "agent": agent,
            "task_id": "t-1",
            "invariants": [
                {
                    "id": inv,
                    "name": "Traced freshness",
                    "passed": False,
                    "priority": "critical",
                    "threshold": 300,
                    "actual": 1800,
                    "unit": "seconds",
                    "message": "data is 1800 s old",
                }
            ],
        },
    }
    if traceparent:
        doc["traceparent"] = traceparent
    return doc


def new_traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def github_call(spans: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next(
        (
            s
            for s in spans
            if s["kind"] == "SpanKind.CLIENT" and s["attributes"]["url.full"].endswith("/issues")
        ),
        None,
    )


async def trace_of(stack: Stack, trace_id: str, timeout: float = 45) -> list[dict[str, Any]]:
    """The trace's spans once the PagerDuty and GitHub calls' spans are among them."""
    deadline = time.monotonic() + timeout
    while True:
        spans = [s for s in stack.spans() if s["trace_id"] == trace_id]
        paged = any(s["attributes"].get("peer.service") == "pagerduty" for s in spans)
        if paged and github_call(spans):
            return spans
        if time.monotonic() > deadline:
            names = [(s["service"], s["name"]) for s in spans]
            raise AssertionError(f"no PagerDuty span in trace {trace_id}: {names}\n{stack.logs()}")
        await asyncio.sleep(0.2)


def assert_one_connected_trace(spans: list[dict[str, Any]], root_parent: str) -> None:
    """Every span's parent is in the trace (or is the caller's span): no broken hop."""
    ids = {s["span_id"] for s in spans} | {root_parent}
    orphans = [(s["service"], s["name"]) for s in spans if s["parent_id"] not in ids]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"


def by_service(spans: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        out.setdefault(s["service"].removeprefix("interventions-"), []).append(s)
    return out


async def test_an_ingested_signals_trace_runs_through_every_process_to_the_pagerduty_call(
    stack: Stack,
) -> None:
    trace_id, parent = new_traceparent()
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=10) as client:
        resp = await client.post(
            "/api/signals",
            json=failing_eval("tracing.ingest"),
            headers={"authorization": f"Bearer {stack.admin}", "traceparent": parent},
        )
    assert resp.status_code == 202, resp.text

    spans = await trace_of(stack, trace_id)
    services = by_service(spans)
    want = {"gateway", "watcher", "incidents", "notifier", "issue-sync"}
    assert want <= set(services), sorted(services)
    ingest = next(s for s in services["gateway"] if s["kind"] == "SpanKind.SERVER")
    assert ingest["name"] == "POST /api/signals"
    assert ingest["parent_id"] == parent.split("-")[2]
    for name, topic in (
        ("watcher", "signals.eval"),
        ("incidents", "detections"),
        ("notifier", "incidents"),
    ):
        consumer = next(s for s in services[name] if s["kind"] == "SpanKind.CONSUMER")
        assert consumer["attributes"]["messaging.system"] == "kafka"
        assert consumer["attributes"]["messaging.operation"] == "process"
        assert consumer["attributes"]["messaging.destination.name"] == stack.prefix + topic
        assert consumer["attributes"]["messaging.message.id"]
    page = next(s for s in services["notifier"] if s["kind"] == "SpanKind.CLIENT")
    assert page["name"] == "POST"
    assert page["attributes"]["url.full"] == stack.pagerduty.url
    assert page["attributes"]["http.request.method"] == "POST"
    assert page["attributes"]["http.response.status_code"] == 202
    ticket = github_call(services["issue-sync"])
    assert ticket is not None
    assert ticket["attributes"]["url.full"] == stack.github.url + "/repos/acme/ops/issues"
    assert (ticket["name"], ticket["attributes"]["http.response.status_code"]) == ("POST", 201)
    assert_one_connected_trace(spans, parent.split("-")[2])


async def test_a_kafka_signal_keeps_its_cloudevent_traceparent_through_to_the_pagerduty_call(
    stack: Stack, kafka_bootstrap: str
) -> None:
    trace_id, parent = new_traceparent()
    doc = failing_eval("tracing.kafka", traceparent=parent)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.full(topics.SIGNALS_EVAL, stack.prefix),
            orjson.dumps(doc),
            key=b"tracing.kafka",
            headers=[("traceparent", parent.encode())],
        )
    finally:
        await producer.stop()

    spans = await trace_of(stack, trace_id)
    services = by_service(spans)
    assert {"watcher", "incidents", "notifier"} <= set(services), sorted(services)
    assert "gateway" not in services
    watcher = next(s for s in services["watcher"] if s["kind"] == "SpanKind.CONSUMER")
    assert watcher["parent_id"] == parent.split("-")[2]
    assert_one_connected_trace(spans, parent.split("-")[2])
