"""Finding or starting the real broker and PostgreSQL for tests (DESIGN.md, "Runtime").

Broker: KAFKA_BOOTSTRAP_SERVERS, else a testcontainers Kafka when a Docker engine answers,
else the embedded Tansu broker. PostgreSQL: DATABASE_URL, else 127.0.0.1:5432 when it
answers, else the embedded PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from interventions_platform.embedded import EmbeddedBroker, EmbeddedPostgres, port_open


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_broker() -> tuple[str, Callable[[], None]]:
    """(bootstrap servers, stop function)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"], lambda: None
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer().with_kraft()
        container.start()
        return container.get_bootstrap_server(), container.stop
    log = Path(tempfile.gettempdir()) / f"interventions-tansu-{os.getpid()}.log"
    broker = EmbeddedBroker(log_path=log)
    return broker.start(), broker.stop


def start_postgres() -> tuple[str, Callable[[], None]]:
    """(admin DSN, stop function)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], lambda: None
    if port_open("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres", lambda: None
    pg = EmbeddedPostgres(Path(tempfile.gettempdir()) / "interventions-test-pg")
    return pg.start(), pg.stop


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def create_database(admin_dsn: str, prefix: str = "ivt") -> str:
    """A fresh, empty database; returns its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
