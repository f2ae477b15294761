"""End-to-end smoke across two OS processes: one publishes a signal through FastStream to the
real broker, the other consumes it and writes it to PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
from interventions_platform.kafka import ensure_topics

HERE = Path(__file__).parent / "smoke"


async def test_a_signal_published_by_one_process_is_stored_by_another(
    kafka_bootstrap: str,
    database_url: str,
    topic_prefix: str,
) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "RUN_ID": f"run-{uuid.uuid4().hex[:8]}",
        "PATH": "/usr/bin:/bin",
    }
    await ensure_topics(kafka_bootstrap, topic_prefix)
    consumer = subprocess.Popen(
        [sys.executable, str(HERE / "consumer.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert consumer.stdout is not None
        line = await asyncio.to_thread(consumer.stdout.readline)
        assert "consumer ready" in line, line
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "publisher.py"), env=env
        )
        assert await publisher.wait() == 0
        conn = await asyncpg.connect(database_url)
        try:
            async with asyncio.timeout(30):
                while not await _received(conn):
                    await asyncio.sleep(0.1)
            assert await conn.fetchval("SELECT run_id FROM smoke.received") == env["RUN_ID"]
        finally:
            await conn.close()
    finally:
        consumer.terminate()
        assert consumer.wait(20) == 0


async def _received(conn: asyncpg.Connection) -> bool:
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM smoke.received"))
    except asyncpg.UndefinedTableError:
        return False
