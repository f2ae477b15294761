"""The watcher's state against real PostgreSQL: recoveries once across batches, state kept
when publishing fails, one replica per sweep cycle, agent clocks for the sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from interventions_events.detections import BudgetExceeded
from interventions_eventstore import create_pool, migrate
from watcher.checks import Outcome
from watcher.domain import AgentSeen, Detection, Finding
from watcher.migrations import MIGRATIONS
from watcher.service import WatcherStore

NOW = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
KEY = "BUDGET_inbox.triage_latency_p95"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[WatcherStore]:
    pool = await create_pool(database_url, max_size=4)
    await migrate(pool, "watcher", MIGRATIONS, component="watcher")
    yield WatcherStore(pool)
    await pool.close()


def finding(failed: bool, source: str) -> Finding:
    o = Outcome(KEY, failed, "budget", "inbox.triage", BudgetExceeded, hint="error")
    return Finding(o, source, NOW)


class Sink:
    def __init__(self, fail: bool = False):
        self.sent: list[Detection] = []
        self.fail = fail

    async def __call__(self, detections: list[Detection]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.extend(detections)


async def test_a_key_recovers_once_across_batches(store: WatcherStore) -> None:
    sink = Sink()
    await store.commit_batch([finding(True, "a")], [], sink)
    await store.commit_batch([finding(False, "b")], [], sink)
    await store.commit_batch([finding(False, "c")], [], sink)
    assert [d.data.type_name for d in sink.sent] == ["BudgetExceeded", "SignalRecovered"]
    assert sink.sent[1].data.source_event_id == "b"


async def test_failed_publish_leaves_state_so_the_redelivery_judges_the_same(
    store: WatcherStore,
) -> None:
    await store.commit_batch([finding(True, "a")], [], Sink())
    with pytest.raises(ConnectionError):
        await store.commit_batch([finding(False, "b")], [], Sink(fail=True))
    retry = Sink()
    await store.commit_batch([finding(False, "b")], [], retry)
    assert [d.data.type_name for d in retry.sent] == ["SignalRecovered"]


async def test_only_one_replica_claims_a_sweep_cycle(store: WatcherStore) -> None:
    assert await store.claim_cycle(42, "replica-a")
    assert not await store.claim_cycle(42, "replica-b")
    assert await store.claim_cycle(43, "replica-b")
    await store.finish_cycle(43, {"freshness": "ok"})
    assert not await store.claim_cycle(43, "replica-a")


async def test_agent_clocks_keep_the_newest_eval_and_watch_eval_producers_and_configured(
    store: WatcherStore,
) -> None:
    old, new = NOW - timedelta(hours=2), NOW - timedelta(minutes=1)
    await store.commit_batch([], [AgentSeen("inbox.triage", new, new)], Sink())
    await store.commit_batch(
        [], [AgentSeen("inbox.triage", old, old), AgentSeen("warehouse.health", None, old)], Sink()
    )
    clocks = {c.agent: c for c in await store.agent_clocks(["configured.agent"], NOW)}
    assert clocks["inbox.triage"].last_eval_at == new
    assert "warehouse.health" not in clocks  # never sent an eval: not an eval producer
    assert clocks["configured.agent"].watched_since == NOW
    assert clocks["configured.agent"].last_eval_at is None


async def test_sweep_failures_are_remembered_for_recovery(store: WatcherStore) -> None:
    await store.record_failures([finding(True, "sweep-1")])
    sink = Sink()
    await store.commit_batch([finding(False, "eval-1")], [], sink)
    assert [d.data.type_name for d in sink.sent] == ["SignalRecovered"]
