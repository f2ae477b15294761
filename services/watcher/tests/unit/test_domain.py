"""Batch logic: failures are detections, a pass for a failing key is one recovery, ids are
deterministic, state changes are planned per key, and the sweep finds silent agents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from interventions_events import topics
from interventions_events.base import REGISTRY
from interventions_events.detections import BudgetExceeded, SignalRecovered
from interventions_events.signals import BudgetMetricsReported
from watcher import domain, settings
from watcher.checks import Outcome
from watcher.domain import AgentClock, Finding

NOW = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
KEY = "BUDGET_inbox.triage_latency_p95"


def finding(failed: bool, source: str = "sig-1", key: str = KEY) -> Finding:
    o = Outcome(
        key,
        failed,
        "budget",
        "inbox.triage",
        BudgetExceeded,
        hint="error",
        evidence={"violation" if failed else "passed": {"budget_type": "latency_p95"}},
    )
    return Finding(o, source, NOW)


def test_every_failure_is_a_detection_even_for_a_key_already_failing() -> None:
    out = domain.emissions([finding(True, "a"), finding(True, "b")], prior_failing={KEY})
    assert [d.data.type_name for d in out] == ["BudgetExceeded", "BudgetExceeded"]
    assert out[0].data.key == KEY and out[0].data.source_event_id == "a"


def test_pass_after_fail_in_one_batch_is_one_recovery() -> None:
    out = domain.emissions([finding(True, "a"), finding(False, "b"), finding(False, "c")], set())
    assert [type(d.data) for d in out] == [BudgetExceeded, SignalRecovered]
    assert out[1].data.source_event_id == "b" and out[1].data.hint is None


def test_pass_for_a_key_failing_before_the_batch_recovers_it() -> None:
    assert [type(d.data) for d in domain.emissions([finding(False)], {KEY})] == [SignalRecovered]


def test_pass_for_a_key_never_failing_emits_nothing() -> None:
    assert domain.emissions([finding(False)], set()) == []


@pytest.mark.parametrize(
    ("source_id", "key", "part"),
    [
        ("8a2b1c3d-aaaa-4bbb-8ccc-123456789012", "INV_data_freshness_3", ""),
        ("sig-1", "BUDGET_inbox.triage_cost", "daily"),
        ("", "K", "ü→漢字"),  # multi-byte names hash their UTF-8 bytes, as uuid5 does
        *((f"s{i}", f"key-{i * 7919}", str(i % 3)) for i in range(200)),
    ],
)
def test_detection_id_is_the_standard_uuid5(source_id: str, key: str, part: str) -> None:
    name = f"{source_id}\x1f{key}\x1fInvariantViolated\x1f{part}"
    expected = str(uuid.uuid5(domain.ID_NAMESPACE, name))
    assert domain.detection_id(source_id, key, "InvariantViolated", part) == expected


def test_redelivered_signal_yields_the_same_detection_ids() -> None:
    first = domain.emissions([finding(True, "a"), finding(False, "b")], set())
    again = domain.emissions([finding(True, "a"), finding(False, "b")], set())
    assert [d.event_id for d in first] == [d.event_id for d in again]
    other = domain.emissions([finding(True, "z")], set())
    assert other[0].event_id != first[0].event_id


def test_plan_reads_prior_state_only_for_keys_that_pass_first() -> None:
    plan = domain.plan_state(
        [
            finding(False, key="A"),
            finding(True, key="A"),  # pass then fail: read, then fail
            finding(True, key="B"),
            finding(False, key="B"),  # fail then pass: clear
            finding(False, key="C"),  # pass: read and clear
            finding(True, key="D"),  # fail
        ]
    )
    assert sorted(plan.first_pass) == ["A", "C"]
    assert sorted(plan.final_fail) == ["A", "D"]
    assert plan.final_pass == ["B"]


def test_evaluate_routes_each_signal_to_its_check() -> None:
    cfg = settings.load({})
    sig = BudgetMetricsReported.model_validate(
        {"agent": "inbox.triage", "metrics": {"p95_latency_ms": 1850}}
    )
    (o,) = domain.evaluate(sig, cfg)
    assert o.key == KEY and o.failed


FRESH = settings.load(
    {"watcher": {"freshness": {"default": "1h", "agents": {"inbox.triage": "10m"}}}}
).freshness


def test_sweep_finds_agents_without_an_eval_within_their_threshold() -> None:
    clocks = [
        AgentClock("fresh.agent", NOW - timedelta(minutes=59), NOW - timedelta(days=1)),
        AgentClock("silent.agent", NOW - timedelta(hours=1), NOW - timedelta(days=1)),
        AgentClock("inbox.triage", NOW - timedelta(minutes=11), NOW - timedelta(days=1)),
        AgentClock("never.evaluated", None, NOW - timedelta(hours=2)),
        AgentClock("just.watched", None, NOW - timedelta(minutes=5)),
    ]
    found = domain.check_freshness(clocks, FRESH, NOW, sweep_id="sweep-7")
    assert [f.outcome.key for f in found] == [
        "INV_data_freshness_silent.agent",
        "INV_data_freshness_inbox.triage",
        "INV_data_freshness_never.evaluated",
    ]
    o = found[1].outcome
    assert o.failed and o.kind == "invariant" and o.hint == "critical"
    assert (
        o.evidence["invariant"]["threshold"] == 600 and o.evidence["invariant"]["unit"] == "seconds"
    )
    assert o.evidence["invariant"]["actual"] == 660 and o.evidence["agent"] == "inbox.triage"
    assert found[1].source_id == "sweep-7"


def budget_signal(p95: float) -> BudgetMetricsReported:
    return BudgetMetricsReported.model_validate(
        {"agent": "inbox.triage", "metrics": {"p95_latency_ms": p95, "quality_score": 90}}
    )


def test_judge_keeps_passes_only_for_keys_failing_before_or_earlier_in_the_batch() -> None:
    cfg = settings.load({})
    batch = [
        ("s1", NOW, budget_signal(900)),
        ("s2", NOW, budget_signal(1850)),
        ("s3", NOW, budget_signal(900)),
    ]
    findings, seen = domain.judge(batch, cfg, failing=set(), now=NOW)
    assert [(f.source_id, f.outcome.key, f.outcome.failed) for f in findings] == [
        ("s2", KEY, True),
        ("s3", KEY, False),
    ]
    assert [type(d.data) for d in domain.emissions(findings, set())] == [
        BudgetExceeded,
        SignalRecovered,
    ]
    assert seen == [domain.AgentSeen("inbox.triage", None, NOW)]


def test_judge_reports_a_pass_for_a_key_already_failing() -> None:
    findings, _ = domain.judge(
        [("s1", NOW, budget_signal(900))], settings.load({}), failing={KEY}, now=NOW
    )
    assert [(f.outcome.key, f.outcome.failed) for f in findings] == [(KEY, False)]


def test_judge_caps_a_signal_time_from_the_future_at_now() -> None:
    later = NOW + timedelta(hours=1)
    _, seen = domain.judge([("s1", later, budget_signal(900))], settings.load({}), set(), NOW)
    assert seen[0].last_signal_at == NOW


def test_the_signal_types_are_every_event_registered_on_a_signal_topic() -> None:
    """The watcher tells signals apart by exact type: a new signal type must be added."""
    on_signal_topics = {s.model for s in REGISTRY.values() if s.topic in topics.SIGNAL_TOPICS}
    assert on_signal_topics == domain.SIGNAL_TYPE_SET == set(domain.SIGNAL_TYPES)
