"""Incident policy: severity, owner team, suggested playbooks and summary for a detection.

THE place to change how detections become incidents. Defaults are the rules table of
DESIGN.md; every map can be overridden in settings.yaml under `interventions.incidents.policy`
(keys as in `PolicyConfig`). Pure: no I/O.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interventions_events.incidents import Severity
from pydantic import BaseModel, ConfigDict, Field

SEVERITIES: tuple[Severity, ...] = ("sev1", "sev2", "sev3", "sev4")


def _invariant_severity() -> dict[str, Severity]:
    return {"critical": "sev1", "high": "sev2", "medium": "sev3", "low": "sev4"}


def _budget_severity() -> dict[str, Severity]:
    return {
        "quality": "sev1",
        "success_rate": "sev1",
        "latency_avg": "sev2",
        "latency_p95": "sev2",
        "latency_p99": "sev3",
        "cost": "sev3",
    }


def _planner_severity() -> dict[str, Severity]:
    return {"accuracy": "sev1"}


def _platform_severity() -> dict[str, Severity]:
    return {
        "critical": "sev1",
        "error": "sev2",
        "high": "sev2",
        "warning": "sev3",
        "medium": "sev3",
        "low": "sev4",
        "info": "sev4",
    }


def _owner_teams() -> dict[str, str]:
    return {
        "inbox.*": "data-platform",
        "knowledge.*": "data-platform",
        "insights.*": "analytics",
        "warehouse.*": "data-infra",
        "planner*": "ml-platform",
    }


def _budget_playbooks() -> dict[str, list[str]]:
    return {
        "latency": ["clear_cache"],
        "quality": ["rerun_eval"],
        "success_rate": ["rerun_eval"],
        "cost": ["adjust_canary_split"],
    }


def _agent_playbooks() -> dict[str, dict[str, list[str]]]:
    """Extra playbooks by budget family, then agent pattern (appended to the family's list)."""
    return {
        "latency": {"knowledge.*": ["refresh_synonyms"]},
        "quality": {"warehouse.*": ["rerun_dbt"]},
        "success_rate": {"warehouse.*": ["rerun_dbt"]},
    }


class PolicyConfig(BaseModel):
    """Overridable policy maps (settings.yaml `interventions.incidents.policy`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    invariant_severity: dict[str, Severity] = Field(default_factory=_invariant_severity)
    invariant_default_severity: Severity = "sev3"
    budget_severity: dict[str, Severity] = Field(default_factory=_budget_severity)
    budget_default_severity: Severity = "sev3"
    planner_severity: dict[str, Severity] = Field(default_factory=_planner_severity)
    planner_default_severity: Severity = "sev2"
    platform_severity: dict[str, Severity] = Field(default_factory=_platform_severity)
    owner_teams: dict[str, str] = Field(default_factory=_owner_teams)
    default_team: str = "platform"
    cost_team: str = "cost-optimization"
    planner_team: str = "ml-platform"
    platform_team: str = "platform"
    freshness_playbooks: list[str] = Field(default_factory=lambda: ["rerun_eval", "rerun_dbt"])
    invariant_playbooks: list[str] = Field(default_factory=lambda: ["rerun_eval"])
    budget_playbooks: dict[str, list[str]] = Field(default_factory=_budget_playbooks)
    agent_playbooks: dict[str, dict[str, list[str]]] = Field(default_factory=_agent_playbooks)
    planner_playbooks: list[str] = Field(default_factory=lambda: ["rollback_planner"])


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the policy says about one detection."""

    severity: Severity
    owner_team: str
    playbooks: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class Facts:
    """The parts of a detection the policy reads."""

    kind: str
    key: str
    subject: str
    hint: str | None
    evidence: Mapping[str, Any]


def assess(facts: Facts, cfg: PolicyConfig) -> Assessment:
    """Severity, owner, playbooks and summary for a detection, by its kind."""
    if facts.kind == "invariant":
        return _invariant(facts, cfg)
    if facts.kind == "budget":
        return _budget(facts, cfg)
    if facts.kind == "planner":
        return _planner(facts, cfg)
    return _platform(facts, cfg)


def team_for(agent: str, cfg: PolicyConfig) -> str:
    """Owner team by agent name pattern (first match in settings order)."""
    for pattern, team in cfg.owner_teams.items():
        if fnmatch.fnmatchcase(agent, pattern):
            return team
    return cfg.default_team


def _invariant(f: Facts, cfg: PolicyConfig) -> Assessment:
    inv = _dict(f.evidence.get("invariant"))
    agent = str(f.evidence.get("agent") or f.subject)
    inv_id, name = str(inv.get("id", "")), str(inv.get("name") or inv.get("id") or f.key)
    severity = cfg.invariant_severity.get((f.hint or "").lower(), cfg.invariant_default_severity)
    fresh = "freshness" in inv_id.lower() or "freshness" in name.lower()
    playbooks = cfg.freshness_playbooks if fresh else cfg.invariant_playbooks
    return Assessment(
        severity, team_for(agent, cfg), tuple(playbooks), f"{name} violation for {agent}"
    )


def _budget(f: Facts, cfg: PolicyConfig) -> Assessment:
    v = _dict(f.evidence.get("violation"))
    agent = str(f.evidence.get("agent") or f.subject)
    btype = str(v.get("budget_type", ""))
    family = "latency" if btype.startswith("latency") else btype
    playbooks = list(cfg.budget_playbooks.get(family, []))
    for pattern, extra in cfg.agent_playbooks.get(family, {}).items():
        if fnmatch.fnmatchcase(agent, pattern):
            playbooks += [p for p in extra if p not in playbooks]
    team = cfg.cost_team if family == "cost" else team_for(agent, cfg)
    severity = cfg.budget_severity.get(btype, cfg.budget_default_severity)
    return Assessment(severity, team, tuple(playbooks), budget_summary(btype, v, agent))


def budget_summary(btype: str, v: Mapping[str, Any], agent: str) -> str:
    """E.g. `P95 latency 1850ms exceeds budget 1000ms`."""
    actual, threshold = _num(v.get("actual")), _num(v.get("threshold"))
    labels = {
        "latency_p95": "P95 latency",
        "latency_p99": "P99 latency",
        "latency_avg": "Average latency",
    }
    if btype in labels:
        return f"{labels[btype]} {actual}ms exceeds budget {threshold}ms"
    if btype == "quality":
        return f"Quality score {actual} below budget {threshold} for {agent}"
    if btype == "success_rate":
        return f"Success rate {actual} below budget {threshold} for {agent}"
    if btype == "cost":
        return f"Cost ${actual} exceeds budget ${threshold} for {agent}"
    return str(v.get("message") or f"Budget {btype or 'breach'} for {agent}")


def _planner(f: Facts, cfg: PolicyConfig) -> Assessment:
    reg = _dict(f.evidence.get("regression"))
    metric = str(reg.get("metric", "unknown"))
    version = str(f.evidence.get("version") or f.subject)
    severity = cfg.planner_severity.get(metric, cfg.planner_default_severity)
    return Assessment(
        severity,
        cfg.planner_team,
        tuple(cfg.planner_playbooks),
        f"Planner regression: {version} {metric}",
    )


def _platform(f: Facts, cfg: PolicyConfig) -> Assessment:
    severity = cfg.platform_severity.get((f.hint or "").lower(), "sev3")
    message = f.evidence.get("message") or f"Platform alert {f.key}"
    return Assessment(severity, cfg.platform_team, (), str(message))


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _num(value: Any) -> str:
    """Numbers as people write them: 1850.0 -> 1850, 0.935 -> 0.935."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?" if value is None else str(value)
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
