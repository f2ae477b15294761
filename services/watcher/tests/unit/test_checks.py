"""Table-driven checks per signal type: pass, fail at the boundary, fail, missing metric,
unknown agent with no budget -> exactly the expected detections, keys and evidence."""

from __future__ import annotations

from typing import Any

import pytest
from interventions_events.detections import BudgetExceeded, InvariantViolated, PlannerRegressed
from interventions_events.signals import (
    BudgetMetricsReported,
    CanaryMetricsReported,
    EvalRunCompleted,
    GateEvaluated,
)
from watcher import canary as canary_check
from watcher import checks, settings
from watcher.checks import Outcome

SETTINGS = settings.load({"budgets": {"inbox.triage": {"max_cost_usd": 1.0}}})
BUDGET_KEYS = {
    f"BUDGET_inbox.triage_{t}"
    for t in ("quality", "success_rate", "latency_avg", "latency_p95", "latency_p99", "cost")
}
HEALTHY = {
    "quality_score": 90.1,
    "success_rate": 0.97,
    "avg_latency_ms": 420,
    "p95_latency_ms": 900,
    "p99_latency_ms": 1500,
    "cost_usd": 0.5,
}


def failed(outcomes: list[Outcome]) -> dict[str, Outcome]:
    return {o.key: o for o in outcomes if o.failed}


def passed(outcomes: list[Outcome]) -> set[str]:
    return {o.key for o in outcomes if not o.failed}


def budget(agent: str = "inbox.triage", **metrics: Any) -> list[Outcome]:
    sig = BudgetMetricsReported.model_validate({"agent": agent, "samples": 500, "metrics": metrics})
    return checks.check_budget(sig, SETTINGS.budgets.get(agent))


@pytest.mark.parametrize(
    ("case", "metrics", "failing", "checked"),
    [
        ("pass", HEALTHY, {}, BUDGET_KEYS),
        (
            "at the limits passes",
            {
                **HEALTHY,
                "quality_score": 85,
                "success_rate": 0.95,
                "avg_latency_ms": 500,
                "p95_latency_ms": 1000,
                "p99_latency_ms": 2000,
                "cost_usd": 1.0,
            },
            {},
            BUDGET_KEYS,
        ),
        (
            "just past the limits fails",
            {
                "quality_score": 84.99,
                "success_rate": 0.9499,
                "avg_latency_ms": 500.01,
                "p95_latency_ms": 1000.01,
                "p99_latency_ms": 2000.01,
                "cost_usd": 1.01,
            },
            {
                "quality": "critical",
                "success_rate": "critical",
                "latency_avg": "error",
                "latency_p95": "error",
                "latency_p99": "warning",
                "cost": "error",
            },
            BUDGET_KEYS,
        ),
        (
            "fail",
            {**HEALTHY, "p95_latency_ms": 1850, "p99_latency_ms": 2500, "cost_usd": 1.2},
            {"latency_p95": "error", "latency_p99": "warning", "cost": "error"},
            BUDGET_KEYS,
        ),
        (
            "missing metric is not checked",
            {"p95_latency_ms": 1850},
            {"latency_p95": "error"},
            {"BUDGET_inbox.triage_latency_p95"},
        ),
    ],
)
def test_budget_metrics_against_the_agents_budget(
    case: str, metrics: dict[str, float], failing: dict[str, str], checked: set[str]
) -> None:
    outcomes = budget("inbox.triage", **metrics)
    assert {o.key for o in outcomes} == checked
    got = failed(outcomes)
    assert {k: o.hint for k, o in got.items()} == {
        f"BUDGET_inbox.triage_{t}": hint for t, hint in failing.items()
    }
    for o in got.values():
        assert o.kind == "budget" and o.detection is BudgetExceeded and o.subject == "inbox.triage"
        assert set(o.evidence) == {"violation", "agent", "source", "current_metrics"}
        assert o.evidence["source"] == "watcher" and o.evidence["current_metrics"] == metrics


def test_budget_evidence_matches_the_pinned_example() -> None:
    got = failed(budget("inbox.triage", **{**HEALTHY, "p95_latency_ms": 1850}))[
        "BUDGET_inbox.triage_latency_p95"
    ]
    assert got.evidence["violation"] == {
        "budget_type": "latency_p95",
        "threshold": 1000,
        "actual": 1850,
        "message": "P95 latency 1850ms exceeds budget 1000ms",
    }
    assert got.evidence["agent"] == "inbox.triage"


def test_unknown_agent_without_a_budget_settles_nothing() -> None:
    assert budget("nobody.knows", quality_score=1, p95_latency_ms=99999) == []


def test_default_cost_budget_is_unset_so_cost_is_not_checked() -> None:
    sig = BudgetMetricsReported.model_validate(
        {"agent": "warehouse.health", "metrics": {"cost_usd": 1e9}}
    )
    assert checks.check_budget(sig, SETTINGS.budgets["warehouse.health"]) == []


def inv(passed_: bool, **kw: Any) -> dict[str, Any]:
    return {
        "id": "data_freshness_inbox",
        "name": "Data freshness",
        "passed": passed_,
        "priority": "critical",
        "threshold": 300,
        "actual": 1800,
        "unit": "seconds",
        "message": "inbox data is 1800 s old",
        **kw,
    }


def evaluate(agent: str = "inbox.triage", *invariants: dict[str, Any]) -> list[Outcome]:
    return checks.check_eval(
        EvalRunCompleted.model_validate(
            {"run_id": "run-42", "agent": agent, "task_id": "triage-001", "invariants": invariants}
        )
    )


@pytest.mark.parametrize(
    ("case", "invariants", "failing"),
    [
        ("pass", [inv(True)], set()),
        (
            "fail at the boundary: the producer's verdict is carried",
            [inv(False, actual=300)],
            {"INV_data_freshness_inbox"},
        ),
        (
            "fail",
            [inv(False), inv(True, id="schema_ok", name="Schema")],
            {"INV_data_freshness_inbox"},
        ),
        (
            "missing metric",
            [inv(False, threshold=None, actual=None, unit=None)],
            {"INV_data_freshness_inbox"},
        ),
        ("no invariants", [], set()),
    ],
)
def test_eval_invariants_become_invariant_detections(
    case: str, invariants: list[dict[str, Any]], failing: set[str]
) -> None:
    outcomes = evaluate("inbox.triage", *invariants)
    assert set(failed(outcomes)) == failing
    assert "INV_data_freshness_inbox.triage" in passed(outcomes)  # any eval proves freshness
    for o in failed(outcomes).values():
        assert o.kind == "invariant" and o.detection is InvariantViolated and o.hint == "critical"
        assert set(o.evidence) == {"invariant", "agent", "run_id", "task_id"}
        assert set(o.evidence["invariant"]) == {
            "id",
            "name",
            "threshold",
            "actual",
            "unit",
            "message",
        }
        assert o.evidence["run_id"] == "run-42" and o.evidence["task_id"] == "triage-001"


def test_eval_invariant_evidence_carries_threshold_actual_and_priority() -> None:
    o = failed(evaluate("inbox.triage", inv(False, priority="high")))["INV_data_freshness_inbox"]
    assert o.hint == "high"
    assert o.evidence["invariant"]["threshold"] == 300 and o.evidence["invariant"]["actual"] == 1800


def test_eval_for_an_unknown_agent_still_reports_failed_invariants() -> None:
    assert set(failed(evaluate("brand.new", inv(False)))) == {"INV_data_freshness_inbox"}


def canary(
    samples: int = 200,
    metrics: dict[str, float] | None = None,
    baseline: dict[str, float] | None = None,
) -> list[Outcome]:
    sig = CanaryMetricsReported.model_validate(
        {
            "planner": "planner",
            "version": "v1.2.3-canary",
            "baseline_version": "v1.2.2",
            "canary_percent": 10,
            "samples": samples,
            "metrics": metrics
            if metrics is not None
            else {"accuracy": 0.79, "p95_latency_ms": 900, "cost_usd": 0.02},
            "baseline": baseline
            if baseline is not None
            else {"accuracy": 0.92, "p95_latency_ms": 850, "cost_usd": 0.02},
        }
    )
    return canary_check.check_canary(sig, SETTINGS.canary)


BASE = {"accuracy": 0.85, "p95_latency_ms": 850, "cost_usd": 0.02}


@pytest.mark.parametrize(
    ("case", "samples", "metrics", "baseline", "regressed"),
    [
        ("pass", 200, {"accuracy": 0.84, "p95_latency_ms": 1100, "cost_usd": 0.025}, BASE, []),
        (
            "accuracy drop exactly at tolerance regresses",
            200,
            {"accuracy": 0.80, "p95_latency_ms": 850, "cost_usd": 0.02},
            BASE,
            ["accuracy"],
        ),
        (
            "p95 and cost up exactly 30% regress",
            30,
            {"accuracy": 0.85, "p95_latency_ms": 1105, "cost_usd": 0.026},
            BASE,
            ["p95_latency_ms", "cost_usd"],
        ),
        ("fail", 200, None, None, ["accuracy"]),
        ("too few samples is not a regression", 29, {"accuracy": 0.1}, BASE, None),
        (
            "missing metric is skipped",
            200,
            {"p95_latency_ms": 2000},
            {"accuracy": 0.9, "p95_latency_ms": 850},
            ["p95_latency_ms"],
        ),
        ("nothing comparable settles nothing", 200, {"accuracy": 0.5}, {"cost_usd": 0.02}, None),
    ],
)
def test_canary_against_baseline_with_tolerances(
    case: str,
    samples: int,
    metrics: dict[str, float] | None,
    baseline: dict[str, float] | None,
    regressed: list[str] | None,
) -> None:
    outcomes = canary(samples, metrics, baseline)
    if regressed is None:
        assert outcomes == []
        return
    assert [o.evidence["regression"]["metric"] for o in outcomes if o.failed] == regressed
    assert {o.key for o in outcomes} == {"PLANNER_REG_v1.2.3-canary"}
    assert all(o.failed for o in outcomes) == bool(regressed)
    for o in outcomes:
        assert o.kind == "planner" and o.detection is PlannerRegressed
        assert o.evidence["version"] == "v1.2.3-canary"
        assert o.evidence["baseline_version"] == "v1.2.2" and o.evidence["samples"] == samples


def test_canary_regression_evidence_has_metric_baseline_current_drop() -> None:
    (o,) = canary()
    assert o.evidence["regression"] == {
        "metric": "accuracy",
        "baseline": 0.92,
        "current": 0.79,
        "drop": pytest.approx(0.13),
    }
    assert o.evidence["canary_percent"] == 10


def gate(
    agent: str = "warehouse.health", passed_: bool = False, *violations: dict[str, Any]
) -> list[Outcome]:
    return checks.check_gate(
        GateEvaluated.model_validate(
            {"gate": "nightly", "agent": agent, "passed": passed_, "violations": violations}
        )
    )


QUALITY = {
    "budget_type": "quality",
    "threshold": 90,
    "actual": 82,
    "severity": "critical",
    "message": "quality 82 below 90",
}


@pytest.mark.parametrize(
    ("case", "agent", "ok", "violations", "failing"),
    [
        ("pass", "warehouse.health", True, [], {}),
        (
            "fail at the boundary: the gate's verdict is carried",
            "warehouse.health",
            False,
            [{**QUALITY, "actual": 90}],
            {"BUDGET_warehouse.health_quality": "critical"},
        ),
        (
            "fail",
            "warehouse.health",
            False,
            [
                QUALITY,
                {
                    "budget_type": "latency_p99",
                    "threshold": 5000,
                    "actual": 6000,
                    "severity": "warning",
                },
            ],
            {
                "BUDGET_warehouse.health_quality": "critical",
                "BUDGET_warehouse.health_latency_p99": "warning",
            },
        ),
        (
            "missing metric",
            "warehouse.health",
            False,
            [{"budget_type": "cost", "severity": "error"}],
            {"BUDGET_warehouse.health_cost": "error"},
        ),
        (
            "unknown agent with no budget",
            "brand.new",
            False,
            [QUALITY],
            {"BUDGET_brand.new_quality": "critical"},
        ),
    ],
)
def test_failed_gate_violations_become_budget_detections(
    case: str, agent: str, ok: bool, violations: list[dict[str, Any]], failing: dict[str, str]
) -> None:
    outcomes = gate(agent, ok, *violations)
    assert {k: o.hint for k, o in failed(outcomes).items()} == failing
    assert passed(outcomes) == {f"BUDGET_{agent}_{t.name}" for t in checks.BUDGET_TYPES} - set(
        failing
    )
    for o in failed(outcomes).values():
        assert o.evidence["source"] == "gate" and o.evidence["agent"] == agent
        assert set(o.evidence["violation"]) == {"budget_type", "threshold", "actual", "message"}


def test_gate_evidence_keeps_the_violation_and_its_metric() -> None:
    o = failed(gate("warehouse.health", False, QUALITY))["BUDGET_warehouse.health_quality"]
    assert o.evidence["violation"] == {
        "budget_type": "quality",
        "threshold": 90,
        "actual": 82,
        "message": "quality 82 below 90",
    }
    assert o.evidence["current_metrics"] == {"quality_score": 82}


def test_gate_and_watcher_budget_breach_share_the_incident_key() -> None:
    from_gate = failed(gate("warehouse.health", False, QUALITY))
    from_watcher = failed(budget("warehouse.health", quality_score=82))
    assert set(from_gate) == set(from_watcher) == {"BUDGET_warehouse.health_quality"}
    (g,), (w,) = from_gate.values(), from_watcher.values()
    assert (g.kind, g.detection, g.hint) == (w.kind, w.detection, w.hint)


def test_gate_with_an_unlisted_budget_type_keys_by_that_type() -> None:
    got = failed(
        gate("warehouse.health", False, {"budget_type": "invariants", "severity": "critical"})
    )
    assert set(got) == {"BUDGET_warehouse.health_invariants"}
