"""Fault-injection harness: the real services as processes against a broker this harness owns
(so it can stop and restart it) and a database of their own, with vendor stand-ins, a signal
load driver and the faults of the reliability suite (docs/RELIABILITY.md)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from interventions_events import topics
from interventions_platform.embedded import EmbeddedBroker, free_port
from interventions_platform.kafka import ensure_topics

from . import infra
from .processes import ServiceProcess
from .standins.github import GitHubStandIn
from .standins.pagerduty import PagerDutyStandIn
from .standins.slack import SlackStandIn

MODULES = {
    "incidents": "incidents",
    "watcher": "watcher",
    "playbooks": "playbooks",
    "notifier": "notifier",
    "issue-sync": "issue_sync",
    "gateway": "gateway",
}
PG_CTL = ("pg_ctlcluster", "--skip-systemctl-redirect")
ROUTING_KEY = "CHA0SR0UT1NGKEY00000000000000001"
SLACK_CHANNEL = "C0INCIDENTS"  # a channel ID: conversations.history takes IDs only
USERS = {
    "viewer": ("vic@example.com", ["viewer"]),
    "responder": ("rita@example.com", ["responder"]),
    "approver": ("ann@example.com", ["approver"]),
    "approver2": ("abe@example.com", ["approver"]),
    "producer": ("ci-bot", ["producer"]),
}
FAST: dict[str, Any] = {
    "enabled": True,
    "watcher": {"interval": "1h", "session_timeout": "3s"},
    "notifier": {
        "sse": {"heartbeat": "2s", "poll_interval": "200ms"},
        "sender": {"poll_interval": "200ms"},
        "timers": {"poll_interval": "500ms"},
        "slack": {"coalesce_window": "300ms", "retry": {"backoff_base": "100ms"}},
        "pagerduty": {"retry": {"backoff_base": "100ms"}},
    },
    "escalation": {"ack_timeout": "1h"},
    "self_alerts": {"enabled": False},  # storms and dead letters are on purpose here
    "playbooks": {"expiry_check_interval": "1s", "execution_timeout": "30s"},
    "approvals": {"ttl": "10m"},
    "issue_provider": {
        "provider": "github",
        "config": {"token": "${GITHUB_TOKEN}", "owner": "acme", "repo": "ops"},
        "severities": ["sev1", "sev2"],
    },
    "issue_sync": {
        "poll_interval": "200ms",
        "retry_initial": "200ms",
        "retry_max": "1s",
        "request_timeout": "3s",
        "session_timeout": "3s",
    },
}


def failing_signal(key_id: str, agent: str = "inbox.triage") -> dict[str, Any]:
    """An EvalRunCompleted whose critical invariant `key_id` fails (incident key INV_<id>)."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "chaos-load",
        "type": "EvalRunCompleted",
        "data": {
            "run_id": f"run-{uuid.uuid4().hex[:8]}",
            "agent": agent,
            "task_id": "t-1",
            "invariants": [
                {
                    "id": key_id,
                    "name": f"Freshness {key_id}",
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


@dataclass
class Sent:
    """Signals the platform acknowledged (id -> invariant id) and those it refused."""

    acked: dict[str, str] = field(default_factory=dict)
    refused: int = 0

    def merge(self, other: Sent) -> None:
        self.acked.update(other.acked)
        self.refused += other.refused


class ObjectStore:
    """The S3 stand-in as a process of its own: the durable broker's storage outlives it."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> ObjectStore:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "interventions_testkit.standins.s3", "0"],
            stdout=subprocess.PIPE,
            stderr=self.log_path.open("ab"),
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    def env(self) -> dict[str, str]:
        """What the Tansu broker's object store reads (the stand-in checks no signature)."""
        return {
            "AWS_ENDPOINT": f"http://127.0.0.1:{self.port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "chaos",
            "AWS_SECRET_ACCESS_KEY": "chaos-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Stack:
    """Every service as a real process (replicas allowed), with faults on demand. With
    `durable`, the broker stores its log in an S3 stand-in process, so a broker restart
    keeps every record it acknowledged (as a Kafka broker keeps its log directory);
    without, the embedded broker keeps everything in memory and restarts empty."""

    def __init__(
        self,
        root: Path,
        admin_dsn: str,
        services: Sequence[str] = tuple(MODULES),
        *,
        durable: bool = False,
    ):
        self.root, self.admin_dsn, self.services = root, admin_dsn, list(services)
        root.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        self.store = ObjectStore(root / "s3.log").start() if durable else None
        self.broker = EmbeddedBroker(
            log_path=root / "broker.log",
            storage_engine="s3://tansu/" if durable else "memory://tansu/",
            env=self.store.env() if self.store else None,
        )
        self.taps: list[TopicTap] = []  # told when the broker restarts
        self.prefix = f"c{uuid.uuid4().hex[:10]}."
        self.tokens = {role: "iv_" + secrets.token_urlsafe(24) for role in [*USERS, "admin"]}
        self.pagerduty = PagerDutyStandIn()
        self.slack = SlackStandIn()
        self.github = GitHubStandIn()
        self.ports = {s: free_port() for s in MODULES}
        self.procs: dict[str, list[ServiceProcess]] = {s: [] for s in MODULES}
        self.database_url = ""
        self.producer: AIOKafkaProducer | None = None
        self.faults: list[str] = []
        self.effect_dups: dict[str, int] = {}  # per oracle, as of the last scenario

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    async def start(self, extra_settings: dict[str, Any] | None = None) -> Stack:
        self.root.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.broker.start)
        await ensure_topics(self.bootstrap, self.prefix)
        self.database_url = await infra.create_database(self.admin_dsn, prefix="chaos")
        for standin in (self.pagerduty, self.slack, self.github):
            standin.start()
        doc = {"interventions": {**FAST, **(extra_settings or {}), "auth": self._auth()}}
        (self.root / "settings.yaml").write_text(yaml.safe_dump(doc))
        for name in self.services:
            self.spawn(name, port=self.ports[name])
        await self.wait_ready()
        await self._start_producer()
        return self

    async def stop(self) -> None:
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        for name in reversed(list(self.procs)):
            for proc in self.procs[name]:
                self.resume(proc)
                proc.kill()
        for standin in (self.pagerduty, self.slack, self.github):
            with contextlib.suppress(Exception):
                standin.stop()
        self.broker.stop()
        if self.store is not None:
            self.store.stop()
        if self.database_url:
            await infra.drop_database(self.admin_dsn, self.database_url)

    def env(self) -> dict[str, str]:
        upstreams = {
            f"INTERVENTIONS_{n.upper().replace('-', '_')}_URL": f"http://127.0.0.1:{p}"
            for n, p in self.ports.items()
            if n != "gateway"
        }
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": self.database_url,
            "KAFKA_TOPIC_PREFIX": self.prefix,
            "INTERVENTIONS_CONFIG": str(self.root / "settings.yaml"),
            "INTERVENTIONS_ADMIN_TOKEN": self.tokens["admin"],
            "INTERVENTIONS_HTTP_PORT": str(self.ports["gateway"]),
            "INTERVENTIONS_CONSOLE_URL": self.url,
            "PAGERDUTY_EVENTS_URL": self.pagerduty.url,
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            # bot mode: messages carry their idempotency key (metadata), read back on resend
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_CHANNEL": SLACK_CHANNEL,
            "SLACK_API_URL": self.slack.api_url,
            "GITHUB_TOKEN": self.github.token,
            "GITHUB_API_URL": self.github.url,
            **upstreams,
        }

    def spawn(self, name: str, port: int | None = None) -> ServiceProcess:
        """Start one more replica of `name` (same consumer group, same database)."""
        port = port or free_port()
        env = {**self.env(), "INTERVENTIONS_SERVICE_PORT": str(port)}
        if name == "gateway":
            env["INTERVENTIONS_HTTP_PORT"] = str(port)
        index = len(self.procs[name])
        proc = ServiceProcess(
            MODULES[name], env, port=port, log_dir=self.root, name=f"{name}-{index}"
        )
        self.procs[name].append(proc.start())
        return proc

    async def wait_ready(self, limit_s: float = 90) -> None:
        live = [p for ps in self.procs.values() for p in ps if _running(p)]
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready, limit_s) for p in live))

    # -- faults -----------------------------------------------------------------------------
    def kill(self, name: str, index: int = 0, at: str = "") -> None:
        """SIGKILL one replica (no drain, no offset commit, no goodbye); `at` names the
        point the harness saw it at, for the table."""
        self.faults.append(f"SIGKILL {name}" + (f" {at}" if at else ""))
        self.procs[name][index].kill()

    async def restart(self, name: str, index: int = 0) -> None:
        """Start a killed replica again on its port and wait until it is ready."""
        proc = self.procs[name][index]
        proc.kill()
        proc.start()
        await asyncio.to_thread(proc.wait_ready, 90)

    def pause(self, proc: ServiceProcess) -> None:
        """SIGSTOP: the process is frozen, heartbeats stop, its session expires."""
        if _running(proc):
            assert proc.proc is not None
            os.killpg(proc.proc.pid, signal.SIGSTOP)
            self.faults.append(f"SIGSTOP {proc.name}")

    def resume(self, proc: ServiceProcess) -> None:
        if _running(proc):
            assert proc.proc is not None
            os.killpg(proc.proc.pid, signal.SIGCONT)

    def remove(self, name: str, index: int) -> None:
        """A replica leaves the group gracefully (SIGTERM)."""
        self.faults.append(f"remove {name}-{index}")
        self.procs[name][index].stop()

    async def broker_outage(self, seconds: float) -> None:
        """Stop the broker for `seconds`, then start it again on the same port (with its log
        if `durable`; empty otherwise: the memory broker keeps nothing across restarts)."""
        await self.broker_stop(seconds)
        await asyncio.sleep(seconds)
        await self.broker_start()

    async def broker_stop(self, seconds: float) -> None:
        self.faults.append(f"broker down {seconds:.0f}s")
        await asyncio.to_thread(self.broker.stop)

    async def broker_start(self) -> None:
        await asyncio.to_thread(self.broker.start)
        await ensure_topics(self.bootstrap, self.prefix)
        if not self.durable:  # a new, empty log: what the taps saw before stays theirs
            for tap in self.taps:
                await tap.rewind()

    async def tap(self, names: Sequence[str]) -> TopicTap:
        """Records of `names` published from now on (positions taken before returning)."""
        t = TopicTap(self.bootstrap, self.prefix, names)
        await t.start()
        self.taps.append(t)
        return t

    async def untap(self, t: TopicTap) -> None:
        await t.stop()
        if t in self.taps:
            self.taps.remove(t)

    async def terminate_connections(self) -> int:
        """pg_terminate_backend on every session of this stack's database (other tests keep
        theirs); returns how many were killed."""
        self.faults.append("terminate PG connections")
        name = self.database_url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        finally:
            await conn.close()
        return int(killed or 0)

    async def hold_lock(self, table: str, seconds: float) -> None:
        """A side session holds `table` in ACCESS EXCLUSIVE mode for `seconds`."""
        self.faults.append(f"lock {table} {seconds:.0f}s")
        conn = await asyncpg.connect(self.database_url)
        try:
            async with conn.transaction():
                await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                await asyncio.sleep(seconds)
        finally:
            await conn.close()

    def restart_postgres(self) -> None:
        """`pg_ctlcluster ... restart -m immediate`: affects every user of this server."""
        self.faults.append("PostgreSQL restart -m immediate")
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            [*PG_CTL, version, "main", "restart", "-m", "immediate"],
            check=True,
            capture_output=True,
            timeout=120,
        )

    # -- load -------------------------------------------------------------------------------
    async def send(self, count: int, keys: Sequence[str], rate: float = 200.0) -> Sent:
        """Publish `count` failing signals round-robin over `keys` at about `rate`/s; only
        those the broker acknowledged count as sent."""
        sent = Sent()
        batch = max(1, int(rate // 10))
        for start in range(0, count, batch):
            started = time.monotonic()
            docs = [failing_signal(keys[i % len(keys)]) for i in range(start, start + batch)]
            docs = docs[: count - start]
            await self._publish(docs, sent)
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - started)))
        return sent

    async def send_via_gateway(self, count: int, keys: Sequence[str], batch: int = 50) -> Sent:
        """POST /api/signals in batches; a 202 is the acknowledgement."""
        sent = Sent()
        headers = {"authorization": f"Bearer {self.tokens['producer']}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=15) as client:
            for start in range(0, count, batch):
                n = min(batch, count - start)
                docs = [failing_signal(keys[(start + i) % len(keys)]) for i in range(n)]
                try:
                    resp = await client.post("/api/signals", content=orjson.dumps(docs))
                except httpx.HTTPError:
                    sent.refused += n
                    continue
                if resp.status_code == 202:
                    sent.acked.update({d["id"]: d["data"]["invariants"][0]["id"] for d in docs})
                else:
                    sent.refused += n
        return sent

    async def _publish(self, docs: list[dict[str, Any]], sent: Sent) -> None:
        assert self.producer is not None
        topic = topics.full(topics.SIGNALS_EVAL, self.prefix)
        futures = []
        for doc in docs:
            try:
                fut = await self.producer.send(topic, orjson.dumps(doc), key=b"inbox.triage")
            except Exception:  # broker down: not acknowledged, so not counted as sent
                sent.refused += 1
                continue
            futures.append((doc, fut))
        for doc, fut in futures:
            try:
                await fut
            except Exception:
                sent.refused += 1
                continue
            sent.acked[doc["id"]] = doc["data"]["invariants"][0]["id"]

    async def _start_producer(self) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            enable_idempotence=False,
            acks=1,
            request_timeout_ms=5000,
            retry_backoff_ms=200,
        )
        await self.producer.start()

    def _auth(self) -> dict[str, Any]:
        return {
            "tokens": [
                {
                    "name": USERS[r][0],
                    "roles": USERS[r][1],
                    "hash": hashlib.sha256(t.encode()).hexdigest(),
                }
                for r, t in self.tokens.items()
                if r in USERS
            ]
        }

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.logs(3000)}" for ps in self.procs.values() for p in ps)


class TopicTap:
    """Collects the records of some topics published after `start()`: it takes the end
    offsets of every partition first, then follows from there. After a restart of a memory
    broker (a new, empty log; `Stack.broker_start` tells its taps) `rewind()` follows each
    partition from its beginning. What was collected is kept.

    Tansu 0.6.0 answers ListOffsets(latest) with the last batch's base offset + 1, not the
    log end (25 records in 6 batches: 6), so the end offsets are a lower bound: the tap may
    also read some records from before it started (harmless: the oracles judge the events
    of their own scenario), and `caught_up` waits for quiet rather than trusting them; it
    answers a fetch beyond the end with no records and no OFFSET_OUT_OF_RANGE, so a restart
    of a memory broker is not detected from the offsets either."""

    def __init__(self, bootstrap: str, prefix: str, names: Sequence[str]):
        self.bootstrap = bootstrap
        self.topics = [topics.full(n, prefix) for n in names]
        self.records: list[tuple[str, bytes]] = []
        self.raw: list[Any] = []  # the ConsumerRecords, headers and keys included
        self.rewinds = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._rewind = asyncio.Event()

    async def start(self) -> TopicTap:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=2000,
        )
        await consumer.start()
        parts = [
            TopicPartition(t, p)
            for t in self.topics
            for p in sorted(consumer.partitions_for_topic(t) or await _partitions(consumer, t))
        ]
        consumer.assign(parts)
        for tp, end in (await consumer.end_offsets(parts)).items():
            consumer.seek(tp, end)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer))
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None

    async def caught_up(self, quiet_s: float = 1.5, limit_s: float = 20) -> bool:
        """Wait until no record has arrived for `quiet_s` (the producers are done)."""
        deadline = time.monotonic() + limit_s
        seen, since = len(self.raw), time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if len(self.raw) != seen:
                seen, since = len(self.raw), time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return True
        return False

    async def rewind(self) -> None:
        """The broker restarted empty: follow every partition from its beginning."""
        self._rewind.set()

    def values(self, topic: str) -> list[bytes]:
        return [v for t, v in self.records if t.endswith("." + topic) or t == topic]

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            if self._rewind.is_set():
                self._rewind.clear()
                await self._seek_start(consumer)
            try:
                batches = await consumer.getmany(timeout_ms=500)
            except Exception:  # the broker is down: try again
                await asyncio.sleep(0.5)
                continue
            for recs in batches.values():
                for rec in recs:
                    self.records.append((rec.topic, rec.value or b""))
                    self.raw.append(rec)

    async def _seek_start(self, consumer: AIOKafkaConsumer) -> None:
        self.rewinds += 1
        for tp in consumer.assignment():
            consumer.seek(tp, 0)


async def read_whole(
    bootstrap: str, prefix: str, name: str, quiet_s: float = 2.0, limit_s: float = 120.0
) -> list[bytes]:
    """Every record value of topic `name` from the beginning of each partition (a tap rewound
    before its first fetch), read until none arrives for `quiet_s`."""
    tap = await TopicTap(bootstrap, prefix, [name]).start()
    try:
        await tap.rewind()
        await tap.caught_up(quiet_s, limit_s)
        return tap.values(name)
    finally:
        await tap.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """Partitions of `topic`, waiting for the metadata (topics exist: ensure_topics)."""
    for _ in range(100):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await consumer.topics()  # a metadata request for every topic
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no partitions for {topic}")


def _running(proc: ServiceProcess) -> bool:
    return proc.proc is not None and proc.proc.poll() is None
