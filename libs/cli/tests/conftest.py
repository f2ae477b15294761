"""Fixtures: an incident store in a fresh database, written through the incident service's own
code with a controlled clock, and a way to run the real `interventions` command."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from incidents import commands as c
from incidents.migrations import MIGRATIONS
from incidents.service import IncidentService
from incidents.settings import load_settings
from interventions_events import Envelope, Event
from interventions_events.detections import BudgetExceeded, InvariantViolated
from interventions_eventstore import CORE, create_pool, migrate
from interventions_platform.kafka import Publisher

T0 = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
CLI = Path(sys.executable).parent / "interventions"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


class Script:
    """Drive the incident service code against a test database with a controlled clock."""

    def __init__(self, pool: asyncpg.Pool, dsn: str, settings: dict[str, Any] | None = None):
        self.pool, self.dsn, self.clock = pool, dsn, Clock()
        pub = Publisher(cast(Any, None), "interventions/test", "t.")
        self.svc = IncidentService(pool, pub, load_settings(settings or {}), clock=self.clock)

    async def detect(self, data: Event, minutes: float) -> str:
        self.clock.at(minutes)
        env: Envelope[Event] = Envelope(data=data, source="interventions/watcher")
        await self.svc.handle_detections([env])
        return env.id

    async def do(self, cmd: c.Command, minutes: float) -> None:
        self.clock.at(minutes)
        await self.svc.execute(cmd)

    async def record(self, cmd: c.Command, minutes: float) -> None:
        self.clock.at(minutes)
        await self.svc.record_external([(str(uuid.uuid4()), cmd)], (), "test")

    async def last_id(self) -> int:
        return int(await self.pool.fetchval("SELECT max(id) FROM incidents.incidents"))

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the installed `interventions` command as its own process."""
        env = {**os.environ, "DATABASE_URL": self.dsn, "COLUMNS": "200"}
        done = subprocess.run(
            [str(CLI), *args], env=env, capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done


async def store_pool(dsn: str) -> asyncpg.Pool:
    pool = await create_pool(dsn, min_size=1, max_size=4)
    await migrate(pool, "incidents", CORE)
    await migrate(pool, "incidents", MIGRATIONS, component="incidents")
    return pool


@pytest.fixture
async def script(database_url: str) -> AsyncIterator[Script]:
    pool = await store_pool(database_url)
    try:
        yield Script(pool, database_url)
    finally:
        await pool.close()


def freshness(at: datetime = T0) -> InvariantViolated:
    return InvariantViolated(
        kind="invariant",
        key="INV_data_freshness_inbox",
        subject="inbox.triage",
        observed_at=at,
        source_event_id="run-42",
        hint="critical",
        evidence={
            "invariant": {
                "id": "data_freshness_inbox",
                "name": "Data freshness",
                "threshold": 300,
                "actual": 1800,
                "unit": "seconds",
            },
            "agent": "inbox.triage",
        },
    )


def latency(agent: str = "inbox.triage", at: datetime = T0) -> BudgetExceeded:
    return BudgetExceeded(
        kind="budget",
        key=f"BUDGET_{agent}_latency_p95",
        subject=agent,
        observed_at=at,
        source_event_id="sig-1",
        hint="error",
        evidence={
            "violation": {"budget_type": "latency_p95", "threshold": 1000, "actual": 1850},
            "agent": agent,
            "source": "watcher",
        },
    )


class Kit:
    """Helpers for test modules (importlib mode: tests cannot import conftest)."""

    T0 = T0
    freshness = staticmethod(freshness)
    latency = staticmethod(latency)
    store_pool = staticmethod(store_pool)
    Script = Script


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit
