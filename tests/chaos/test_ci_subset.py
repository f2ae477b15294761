"""The CI subset of the chaos suite: each fault under steady load, then every oracle (every
acknowledged signal decided once, one incident per key per episode, contiguous versions,
effects once per idempotency key, nothing skipped by the relay, read model == rebuild)."""

from __future__ import annotations

import asyncio

import pytest
from interventions_testkit.chaos import Stack, TopicTap
from interventions_testkit.chaos_runner import Row, run_scenario

from . import faults

pytestmark = pytest.mark.timeout(600)


def keys(name: str, n: int) -> list[str]:
    return [f"chaos_{name}_{i}" for i in range(n)]


def assert_clean(row: Row, *, known: str | None = None) -> None:
    """No oracle failed; `known` names the one documented at-least-once window tolerated."""
    problems = [p for p in row.problems if known is None or known not in p]
    assert not problems, row
    assert row.losses == 0, row
    assert row.sent > 0, row


async def test_baseline_load_every_signal_decided_once(stack: Stack, tap: TopicTap) -> None:
    load = stack.send(300, keys("base", 10))
    row = await run_scenario(stack, tap, "baseline", "300 sig/10 keys", load, asyncio.sleep(0))
    assert_clean(row)


async def test_sigkill_of_each_consumer_under_load_loses_and_doubles_nothing(
    stack: Stack, tap: TopicTap
) -> None:
    load = stack.send(1500, keys("kill", 20), rate=150)
    kills = faults.kill_and_restart(stack, ["incidents", "watcher", "notifier", "issue-sync"], 1)
    row = await run_scenario(stack, tap, "sigkill consumers", "1500 sig/20 keys", load, kills)
    assert_clean(row)


async def test_sigkill_between_publish_and_mark_published_redelivers_harmlessly(
    stack: Stack, tap: TopicTap
) -> None:
    load = stack.send(800, keys("relay", 40), rate=200)
    row = await run_scenario(
        stack, tap, "sigkill relay", "800 sig/40 keys", load, faults.kill_with_backlog(stack)
    )
    assert_clean(row)


async def test_terminated_connections_mid_load_are_retried(stack: Stack, tap: TopicTap) -> None:
    load = stack.send(1000, keys("term", 20), rate=150)
    fault = faults.terminate_repeatedly(stack, times=4, every=1.2)
    row = await run_scenario(stack, tap, "pg conns killed", "1000 sig/20 keys", load, fault)
    # a Slack webhook has no idempotency key: when the notifier's connection dies between the
    # vendor's 200 and its commit, the row is sent again (docs/RELIABILITY.md, known gaps)
    assert_clean(row, known="duplicate Slack message")


async def test_lock_contention_and_kill_inside_transaction(stack: Stack, tap: TopicTap) -> None:
    load = stack.send(800, keys("lock", 20), rate=150)
    fault = faults.lock_then_kill(stack, "incidents.events", 4, "incidents")
    row = await run_scenario(stack, tap, "lock + kill in tx", "800 sig/20 keys", load, fault)
    assert_clean(row)


async def test_paused_replica_past_its_session_is_fenced(stack: Stack, tap: TopicTap) -> None:
    load = stack.send(1000, keys("pause", 20), rate=120)
    fault = faults.pause_replica(stack, "watcher", 6)
    row = await run_scenario(stack, tap, "SIGSTOP replica", "1000 sig/20 keys", load, fault)
    assert_clean(row)


async def test_broker_outage_nothing_committed_is_lost(stack: Stack, tap: TopicTap) -> None:
    before = stack.send(400, keys("outage", 10), rate=200)
    row = await run_scenario(stack, tap, "warm-up", "400 sig/10 keys", before, asyncio.sleep(0))
    assert_clean(row)
    load = stack.send(800, keys("outage", 10), rate=100)
    row = await run_scenario(
        stack, tap, "broker down", "800 sig/10 keys", load, stack.broker_outage(5)
    )
    assert_clean(row)


async def test_storm_over_few_keys_pages_once_per_incident(stack: Stack, tap: TopicTap) -> None:
    load = stack.send(5000, keys("storm", 10), rate=2500)
    row = await run_scenario(stack, tap, "storm", "5000 sig/10 keys in 2s", load, asyncio.sleep(0))
    assert_clean(row)
