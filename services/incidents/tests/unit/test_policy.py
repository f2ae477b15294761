"""Policy defaults match DESIGN.md's rules table; settings can override them."""

from __future__ import annotations

from typing import Any

import pytest
from incidents.policy import Facts, PolicyConfig, assess

CFG = PolicyConfig()


def budget(agent: str, btype: str, threshold: float, actual: float) -> Facts:
    ev = {
        "violation": {"budget_type": btype, "threshold": threshold, "actual": actual},
        "agent": agent,
    }
    return Facts("budget", f"BUDGET_{agent}_{btype}", agent, "error", ev)


def invariant(inv_id: str, name: str, priority: str) -> Facts:
    ev: dict[str, Any] = {"invariant": {"id": inv_id, "name": name}, "agent": "inbox.triage"}
    return Facts("invariant", f"INV_{inv_id}", "inbox.triage", priority, ev)


def test_freshness_invariant_is_sev1_with_rerun_eval_and_rerun_dbt() -> None:
    a = assess(invariant("data_freshness_inbox", "Data freshness", "critical"), CFG)
    assert (a.severity, a.playbooks) == ("sev1", ("rerun_eval", "rerun_dbt"))
    assert a.summary == "Data freshness violation for inbox.triage"
    assert a.owner_team == "data-platform"


@pytest.mark.parametrize(
    ("priority", "sev"),
    [("critical", "sev1"), ("high", "sev2"), ("medium", "sev3"), ("low", "sev4")],
)
def test_invariant_priority_maps_to_severity(priority: str, sev: str) -> None:
    a = assess(invariant("schema_ok", "Schema", priority), CFG)
    assert (a.severity, a.playbooks) == (sev, ("rerun_eval",))


def test_p95_latency_budget_is_sev2_with_clear_cache_and_the_guides_summary() -> None:
    a = assess(budget("inbox.triage", "latency_p95", 1000, 1850.0), CFG)
    assert a.severity == "sev2"
    assert a.summary == "P95 latency 1850ms exceeds budget 1000ms"
    assert a.playbooks == ("clear_cache",)


@pytest.mark.parametrize(
    ("agent", "btype", "sev", "playbooks", "team"),
    [
        (
            "knowledge.update",
            "latency_avg",
            "sev2",
            ("clear_cache", "refresh_synonyms"),
            "data-platform",
        ),
        ("insights.write", "latency_p99", "sev3", ("clear_cache",), "analytics"),
        ("warehouse.health", "quality", "sev1", ("rerun_eval", "rerun_dbt"), "data-infra"),
        ("inbox.triage", "success_rate", "sev1", ("rerun_eval",), "data-platform"),
        ("inbox.triage", "cost", "sev3", ("adjust_canary_split",), "cost-optimization"),
    ],
)
def test_budget_rules_table(
    agent: str, btype: str, sev: str, playbooks: tuple[str, ...], team: str
) -> None:
    a = assess(budget(agent, btype, 1, 2), CFG)
    assert (a.severity, a.playbooks, a.owner_team) == (sev, playbooks, team)


def test_planner_accuracy_regression_is_sev1_rollback_only() -> None:
    ev = {
        "regression": {"metric": "accuracy", "baseline": 0.92, "current": 0.79, "drop": 0.13},
        "version": "v1.2.3-canary",
    }
    a = assess(Facts("planner", "PLANNER_REG_v1.2.3-canary", "v1.2.3-canary", None, ev), CFG)
    assert (a.severity, a.playbooks, a.owner_team) == ("sev1", ("rollback_planner",), "ml-platform")
    assert a.summary == "Planner regression: v1.2.3-canary accuracy"


def test_planner_latency_regression_is_sev2() -> None:
    ev = {"regression": {"metric": "p95_latency_ms"}, "version": "v2"}
    assert assess(Facts("planner", "PLANNER_REG_v2", "v2", None, ev), CFG).severity == "sev2"


def test_settings_override_severity_and_playbooks() -> None:
    cfg = PolicyConfig.model_validate(
        {"budget_severity": {"latency_p95": "sev1"}, "budget_playbooks": {"latency": ["page_sre"]}}
    )
    a = assess(budget("inbox.triage", "latency_p95", 1000, 1850), cfg)
    assert (a.severity, a.playbooks) == ("sev1", ("page_sre",))
