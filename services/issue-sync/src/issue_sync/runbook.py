"""The guide's runbook, as data the ticket templates pick from by kind and severity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Sla:
    acknowledge: str
    mitigate: str
    resolve: str
    paging: str


SLAS = {
    "sev1": Sla("5 minutes", "30 minutes", "4 hours", "PagerDuty page + Slack #incidents"),
    "sev2": Sla("15 minutes", "4 hours", "24 hours", "Slack alert"),
    "sev3": Sla("1 hour", "24 hours", "1 week", "Slack notification"),
    "sev4": Sla("best effort", "best effort", "best effort", "logged only"),
}

_FRESHNESS = (
    "Acknowledge immediately (customer-impacting)",
    "Check dbt run logs (failure? timeout?)",
    "Dry-run the `rerun_dbt` playbook",
    "Execute: re-run the failed models",
    "Monitor: the next eval should pass within 15 minutes",
)
_INVARIANT = (
    "Acknowledge and check the failing invariant's threshold against the actual value",
    "Review recent deployments and data changes for the agent",
    "Dry-run the `rerun_eval` playbook",
    "Execute it, then watch the next eval run",
)
_LATENCY = (
    "Acknowledge within 15 minutes",
    "Check recent deployments (new code deployed?)",
    "Dry-run the `clear_cache` playbook",
    "Execute: clear the Elasticsearch query cache",
    "Monitor: P95 should drop within 5 minutes",
)
_QUALITY = (
    "Acknowledge and compare the metric with its budget",
    "Check recent deployments and upstream data",
    "Dry-run the suggested playbook (`rerun_eval`, `rerun_dbt` for warehouse agents)",
    "Execute it and watch the next budget window",
)
_COST = (
    "Check which traffic or model change raised the cost",
    "Dry-run `adjust_canary_split` to shift traffic back",
    "Execute it and watch the next budget window",
)
_PLANNER = (
    "Acknowledge immediately (critical)",
    "Review the canary metrics dashboard",
    "**Do not** execute a rerun (it will not help)",
    "Dry-run the `rollback_planner` playbook",
    "Execute: roll back to the stable version",
    "Post-deployment: investigate the canary failure's root cause",
)
_CAUSES = {
    "freshness": (
        "DBT run failed (compilation error, dependency issue)",
        "Upstream data delayed (Fivetran sync stuck)",
        "Database connection timeout",
    ),
    "latency": (
        "Elasticsearch cache bloat",
        "Inefficient query added",
        "Database index missing",
        "Increased load (spike in traffic)",
    ),
    "planner": (
        "Model training data issue",
        "Feature engineering bug",
        "Hyperparameter regression",
        "Dataset drift",
    ),
}
_GENERIC = (
    "Acknowledge and review the evidence below",
    "Dry-run the suggested playbook before executing it",
    "Mark the incident mitigated once contained, resolved once verified",
)


def scenario(incident: dict[str, Any]) -> str:
    """Which of the guide's scenarios applies: freshness, latency, quality, cost, planner..."""
    kind, details = incident.get("kind", ""), incident.get("details") or {}
    if kind == "planner":
        return "planner"
    if kind == "invariant":
        inv = details.get("invariant") or {}
        text = f"{inv.get('id', '')} {inv.get('name', '')} {incident.get('key', '')}".lower()
        return "freshness" if "fresh" in text else "invariant"
    if kind in ("budget", "gate"):
        budget = str((details.get("violation") or {}).get("budget_type", ""))
        if budget.startswith("latency"):
            return "latency"
        return "cost" if budget == "cost" else "quality"
    return "generic"


def steps(incident: dict[str, Any]) -> tuple[str, ...]:
    """The guide's response steps for this incident's scenario."""
    return {
        "freshness": _FRESHNESS,
        "invariant": _INVARIANT,
        "latency": _LATENCY,
        "quality": _QUALITY,
        "cost": _COST,
        "planner": _PLANNER,
    }.get(scenario(incident), _GENERIC)


def root_causes(incident: dict[str, Any]) -> tuple[str, ...]:
    return _CAUSES.get(scenario(incident), ())


def sla(severity: str) -> Sla:
    return SLAS.get(severity, SLAS["sev4"])
