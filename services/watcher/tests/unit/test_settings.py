"""Budgets and thresholds from settings.yaml: defaults, overrides, new agents, and errors
that name the bad key."""

from __future__ import annotations

from typing import Any

import pytest
from interventions_platform.config import ConfigError
from watcher import settings


def test_defaults_come_from_the_reference_budgets() -> None:
    cfg = settings.load({})
    b = cfg.budgets["inbox.triage"]
    assert (
        b.min_quality_score,
        b.min_success_rate,
        b.max_avg_latency_ms,
        b.max_p95_latency_ms,
        b.max_p99_latency_ms,
        b.max_cost_usd,
    ) == (85, 0.95, 500, 1000, 2000, None)
    assert cfg.budgets["warehouse.health"].min_success_rate == 0.98
    assert cfg.interval_s == 900
    assert (
        cfg.canary.accuracy_drop,
        cfg.canary.p95_latency_increase,
        cfg.canary.cost_increase,
        cfg.canary.min_samples,
    ) == (0.05, 0.30, 0.30, 30)


def test_an_override_changes_only_its_fields_and_new_agents_are_added() -> None:
    cfg = settings.load(
        {
            "budgets": {
                "inbox.triage": {"max_p95_latency_ms": 1500},
                "new.agent": {"max_cost_usd": 2},
            }
        }
    )
    assert cfg.budgets["inbox.triage"].max_p95_latency_ms == 1500
    assert cfg.budgets["inbox.triage"].min_quality_score == 85
    assert cfg.budgets["new.agent"].max_cost_usd == 2
    assert cfg.budgets["new.agent"].min_quality_score is None


def test_an_explicit_null_disables_a_default_check() -> None:
    cfg = settings.load({"budgets": {"inbox.triage": {"max_p99_latency_ms": None}}})
    assert cfg.budgets["inbox.triage"].max_p99_latency_ms is None


@pytest.mark.parametrize(
    ("watcher", "seconds"),
    [
        ({"interval_minutes": 15}, 900),
        ({"interval": "30s"}, 30),
        ({"interval": "2s", "interval_minutes": 15}, 2),
    ],
)
def test_interval_wins_over_interval_minutes(watcher: dict[str, Any], seconds: float) -> None:
    assert settings.load({"watcher": watcher}).interval_s == seconds


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (
            {"budgets": {"inbox.triage": {"max_p95_latency_ms": "fast"}}},
            "interventions.budgets.inbox.triage.max_p95_latency_ms",
        ),
        (
            {"budgets": {"inbox.triage": {"max_p95_latency": 1000}}},
            "interventions.budgets.inbox.triage.max_p95_latency",
        ),
        (
            {"budgets": {"inbox.triage": {"min_success_rate": 1.5}}},
            "interventions.budgets.inbox.triage.min_success_rate",
        ),
        ({"watcher": {"interval": "soon"}}, "interventions.watcher.interval"),
        ({"watcher": {"canary": {"min_samples": 0}}}, "interventions.watcher.canary.min_samples"),
        (
            {"watcher": {"freshness": {"agents": {"x": "later"}}}},
            "interventions.watcher.freshness.agents.x",
        ),
        ({"watcher": {"interval": "0s"}}, "interventions.watcher"),
    ],
)
def test_bad_settings_fail_with_the_key_named(raw: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings.load(raw)
    assert f"settings.yaml: {named}:" in str(err.value)


def test_the_guides_block_still_loads() -> None:
    cfg = settings.load(
        {
            "enabled": True,
            "watcher": {
                "interval_minutes": 15,
                "rate_limit_hours": 1,
                "max_incidents_per_window": 3,
            },
        }
    )
    assert cfg.interval_s == 900
