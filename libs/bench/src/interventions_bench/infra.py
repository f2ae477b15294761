"""The bench's own infrastructure: broker, PostgreSQL, fresh databases, topic prefixes and the
real services as OS processes on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from interventions_platform.embedded import EmbeddedBroker, EmbeddedPostgres, free_port, port_open
from interventions_platform.kafka import ensure_topics
from interventions_testkit import infra
from interventions_testkit.processes import ServiceProcess

# service name -> module run as `python -m <module>`
MODULES = {
    "incidents": "incidents",
    "watcher": "watcher",
    "playbooks": "playbooks",
    "notifier": "notifier",
    "gateway": "gateway",
}
# fast loops and caps out of the way of 1,000 SSE clients (the bench owns its settings.yaml)
SETTINGS: dict[str, Any] = {
    "watcher": {"interval": "1h", "session_timeout": "2s"},
    "notifier": {
        "sse": {"heartbeat": "30s", "poll_interval": "200ms", "client_buffer": 2000},
        "sender": {"poll_interval": "200ms"},
        "timers": {"poll_interval": "1s"},
    },
    "escalation": {"ack_timeout": "1h"},
    "gateway": {"sse_connections_per_token": 5000},
}


@dataclass
class Infra:
    """Broker and PostgreSQL for one bench run; `close()` stops what it started."""

    root: Path
    bootstrap: str = ""
    admin_dsn: str = ""
    token: str = field(default_factory=lambda: "iv_" + secrets.token_urlsafe(24))
    databases: list[str] = field(default_factory=list)
    broker: EmbeddedBroker | None = None
    pg: EmbeddedPostgres | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> Infra:
        inf = cls(Path(tempfile.mkdtemp(prefix="interventions-bench-")))
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            inf.bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
            inf.notes.append(f"broker {inf.bootstrap}")
        else:
            inf.broker = EmbeddedBroker(log_path=inf.root / "broker.log")
            inf.bootstrap = inf.broker.start()
            inf.notes.append(f"broker embedded Tansu on {inf.bootstrap}")
        if os.environ.get("DATABASE_URL"):
            inf.admin_dsn = os.environ["DATABASE_URL"]
            inf.notes.append("postgresql DATABASE_URL")
        elif port_open("127.0.0.1", 5432):
            inf.admin_dsn = "postgresql://postgres@127.0.0.1:5432/postgres"
            inf.notes.append("postgresql 127.0.0.1:5432")
        else:
            inf.pg = EmbeddedPostgres(inf.root / "pgdata")
            inf.admin_dsn = inf.pg.start()
            inf.notes.append("postgresql embedded")
        (inf.root / "settings.yaml").write_text(yaml.safe_dump(inf.settings()))
        return inf

    def fresh_broker(self) -> None:
        """A new embedded broker for the next phase (a given broker is kept as it is). The
        embedded broker's memory storage lists its stored objects to serve a request, so its
        CPU per request grows with everything earlier phases stored (after the watcher phase's
        200,000 signals, ~2 ms per fetch): left running, the end-to-end phase measured that
        more than the pipeline. Its data does not outlive a phase anyway (fresh prefixes)."""
        if self.broker is None:
            return
        self.broker.stop()
        self.broker = EmbeddedBroker(log_path=self.root / "broker.log")
        self.bootstrap = self.broker.start()

    def settings(self) -> dict[str, Any]:
        digest = hashlib.sha256(self.token.encode()).hexdigest()
        tokens = [{"name": "bench", "roles": ["admin"], "hash": digest}]
        return {"interventions": {**SETTINGS, "auth": {"tokens": tokens}}}

    async def database(self) -> str:
        dsn = await infra.create_database(self.admin_dsn, prefix="bench")
        self.databases.append(dsn)
        return dsn

    async def prefix(self, names: Iterable[str] | None = None) -> str:
        """A fresh topic prefix with the pinned topics created."""
        prefix = f"b{uuid.uuid4().hex[:10]}."
        if names is None:
            await ensure_topics(self.bootstrap, prefix)
        else:
            await ensure_topics(self.bootstrap, prefix, names)
        return prefix

    def processes(
        self, services: Iterable[str], dsn: str, prefix: str
    ) -> dict[str, ServiceProcess]:
        """The services wired to each other by URL, not started yet."""
        names = list(services)
        ports = {n: free_port() for n in names}
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": dsn,
            "KAFKA_TOPIC_PREFIX": prefix,
            "INTERVENTIONS_CONFIG": str(self.root / "settings.yaml"),
            "INTERVENTIONS_ADMIN_TOKEN": self.token,
            "INTERVENTIONS_LOG_LEVEL": "WARNING",
            **{
                f"INTERVENTIONS_{n.upper().replace('-', '_')}_URL": f"http://127.0.0.1:{p}"
                for n, p in ports.items()
                if n != "gateway"
            },
        }
        if "gateway" in ports:
            env["INTERVENTIONS_HTTP_PORT"] = str(ports["gateway"])
        return {
            n: ServiceProcess(
                MODULES[n],
                {**env, "INTERVENTIONS_SERVICE_PORT": str(ports[n])},
                port=ports[n],
                log_dir=self.root,
                name=n,
            )
            for n in names
        }

    async def drop_databases(self) -> None:
        """Drop the databases made so far, before a phase that does not use them: autovacuum
        passes over the earlier phases' freshly written tables otherwise ran on the same two
        cores during the next phase."""
        for dsn in self.databases:
            # a leftover database is harmless; the run's numbers are what matter
            with contextlib.suppress(Exception):
                await infra.drop_database(self.admin_dsn, dsn)
        self.databases.clear()

    async def close(self) -> None:
        await self.drop_databases()
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        if self.broker is not None:
            self.broker.stop()
        if self.pg is not None:
            self.pg.stop()


async def start_all(procs: dict[str, ServiceProcess], ready_within: float = 90) -> None:
    """Start every process, then wait until each answers /readyz."""
    for proc in procs.values():
        proc.start()
    for proc in procs.values():
        await asyncio.to_thread(proc.wait_ready, ready_within)


def stop_all(procs: dict[str, ServiceProcess]) -> None:
    for proc in reversed(list(procs.values())):
        proc.stop()
