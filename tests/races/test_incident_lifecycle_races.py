"""Hypothesis stateful test of the incident lifecycle against the real incident service code
and a real PostgreSQL, in-process: random detections and commands, duplicate and concurrent
deliveries, concurrent commands, and restarts (the service object and its pool rebuilt).
Invariants after every step: state == fold(log), at most one active incident per key,
per-stream versions contiguous, each detection decided exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from incidents import commands as c
from incidents.domain import DomainError, NotFound, fold, parse_event
from incidents.migrations import MIGRATIONS
from incidents.readmodel import from_row
from incidents.service import IncidentService
from incidents.settings import load_settings
from interventions_events import Envelope
from interventions_events.detections import InvariantViolated
from interventions_eventstore import create_pool, migrate
from interventions_eventstore.migrations import CORE
from interventions_platform.kafka import Publisher
from interventions_testkit import infra

T = TypeVar("T")
KEYS = ["INV_race_a", "INV_race_b"]
VERBS: dict[str, Callable[[int], c.Command]] = {
    "acknowledge": lambda i: c.Acknowledge(i, "rita"),
    "mitigate": lambda i: c.Mitigate(i, "rita"),
    "resolve": lambda i: c.Resolve(i, "rita"),
    "close": lambda i: c.Close(i, "rita"),
    "reopen": lambda i: c.Reopen(i, "rita"),
}
DSN: dict[str, str] = {}


def detection(key: str) -> Envelope[Any]:
    data = InvariantViolated(
        kind="invariant",
        key=key,
        subject="inbox.triage",
        observed_at=datetime.now(UTC),
        source_event_id=str(uuid.uuid4()),
        hint="critical",
        evidence={"invariant": {"id": key, "name": "x", "threshold": 1, "actual": 2}},
    )
    return Envelope(data=data, source="races", id=str(uuid.uuid4()))


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.schema = f"r{uuid.uuid4().hex[:10]}"
        self.decided: list[str] = []
        self.pool: asyncpg.Pool | None = None
        self.replicas: list[IncidentService] = []
        self.run(self._start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def _start(self) -> None:
        self.pool = await create_pool(DSN["url"], min_size=1, max_size=6)
        await migrate(self.pool, self.schema, CORE)
        await migrate(self.pool, self.schema, MIGRATIONS, component="incidents")
        pub = Publisher(None, "races", "race.")
        cfg = load_settings({})
        self.replicas = [IncidentService(self.pool, pub, cfg, schema=self.schema) for _ in "ab"]

    def teardown(self) -> None:
        async def drop() -> None:
            assert self.pool is not None
            await self.pool.execute(f"DROP SCHEMA {self.schema} CASCADE")
            await self.pool.close()

        self.run(drop())
        self.loop.close()

    async def _ids(self) -> list[int]:
        assert self.pool is not None
        rows = await self.pool.fetch(f"SELECT id FROM {self.schema}.incidents ORDER BY id")
        return [int(r["id"]) for r in rows]

    @rule(key=st.sampled_from(KEYS), copies=st.integers(1, 3), concurrent=st.booleans())
    def deliver_detection(self, key: str, copies: int, concurrent: bool) -> None:
        """The same detection delivered 1-3 times, sequentially or to both replicas at once."""
        env = detection(key)
        self.decided.append(env.id)

        async def go() -> None:
            calls = [self.replicas[i % 2].handle_detections([env]) for i in range(copies)]
            if concurrent:
                await asyncio.gather(*calls)
            else:
                for call in calls:
                    await call

        self.run(go())

    @rule(
        verbs=st.lists(st.sampled_from(sorted(VERBS)), min_size=1, max_size=3),
        pick=st.integers(0, 50),
    )
    def concurrent_commands(self, verbs: list[str], pick: int) -> None:
        """Several lifecycle commands on one incident at the same time, on both replicas."""
        ids = self.run(self._ids())
        if not ids:
            return
        target = ids[pick % len(ids)]

        async def one(i: int, verb: str) -> None:
            with contextlib.suppress(DomainError, NotFound):  # a refused transition is a 409
                await self.replicas[i % 2].execute(VERBS[verb](target))

        async def all_at_once() -> None:
            await asyncio.gather(*(one(i, v) for i, v in enumerate(verbs)))

        self.run(all_at_once())

    @rule()
    def restart(self) -> None:
        """A crash and restart: the service objects and their pool are rebuilt."""
        assert self.pool is not None
        self.run(self.pool.close())
        self.run(self._start())

    @invariant()
    def state_is_the_fold_of_the_log(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        assert self.pool is not None
        s = self.schema
        rows = await self.pool.fetch(f"SELECT * FROM {s}.incidents")
        events = await self.pool.fetch(
            f"SELECT stream_id, stream_version, type, data FROM {s}.events ORDER BY global_position"
        )
        streams: dict[str, list[Any]] = {}
        for e in events:
            streams.setdefault(e["stream_id"], []).append(e)
        for sid, evs in streams.items():
            assert [e["stream_version"] for e in evs] == list(range(1, len(evs) + 1)), sid
        for r in rows:
            evs = streams[f"incident-{r['id']}"]
            folded = fold(parse_event(e["type"], e["data"]) for e in evs)
            assert folded is not None and folded.to_json() == from_row(r).to_json()
        active = [r["key"] for r in rows if r["status"] in ("open", "acknowledged", "mitigated")]
        assert len(active) == len(set(active)), f"several active incidents per key: {active}"
        decisions = [e["data"]["detection_id"] for e in events if e["type"] == "DetectionDecided"]
        assert sorted(decisions) == sorted(self.decided), "each detection decided exactly once"


@pytest.fixture
async def race_db(pg_admin_dsn: str) -> Any:
    dsn = await infra.create_database(pg_admin_dsn, prefix="races")
    DSN["url"] = dsn
    yield dsn
    await infra.drop_database(pg_admin_dsn, dsn)


@pytest.mark.timeout(300)
def test_incident_lifecycle_under_races_and_restarts(race_db: str) -> None:
    Lifecycle.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Lifecycle.TestCase().runTest()
