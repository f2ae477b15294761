"""Pure checks, one per signal type: a signal in, the outcome of every check it settles out.

An outcome is a pass or a failure for one incident key. Failures become detections; a pass
for a key that was failing becomes a recovery. A check the signal says nothing about (a
missing metric, an agent without a budget, too few canary samples) yields no outcome at all.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any, Final

from interventions_events.detections import (
    BudgetExceeded,
    DetectionData,
    DetectionKind,
    InvariantViolated,
)
from interventions_events.signals import (
    BudgetMetricsReported,
    EvalRunCompleted,
    GateEvaluated,
    InvariantResult,
)

from .settings import Budget

# 1e-9 absorbs float noise so that a value exactly at a tolerance counts as at it
# (0.85 - 0.80 is 0.04999999999999993 in binary floating point).
EPSILON: Final = 1e-9


@dataclass(frozen=True, slots=True)
class BudgetType:
    """One budget type: its metric, its budget field, its direction and its severity."""

    name: str
    metric: str
    limit: str
    minimum: bool
    severity: str
    label: str
    unit: str


BUDGET_TYPES: Final = (
    BudgetType(
        "quality", "quality_score", "min_quality_score", True, "critical", "Quality score", ""
    ),
    BudgetType(
        "success_rate", "success_rate", "min_success_rate", True, "critical", "Success rate", ""
    ),
    BudgetType(
        "latency_avg", "avg_latency_ms", "max_avg_latency_ms", False, "error", "Avg latency", "ms"
    ),
    BudgetType(
        "latency_p95", "p95_latency_ms", "max_p95_latency_ms", False, "error", "P95 latency", "ms"
    ),
    BudgetType(
        "latency_p99", "p99_latency_ms", "max_p99_latency_ms", False, "warning", "P99 latency", "ms"
    ),
    BudgetType("cost", "cost_usd", "max_cost_usd", False, "error", "Cost", " USD"),
)
BUDGET_TYPE_BY_NAME: Final = {b.name: b for b in BUDGET_TYPES}
FRESHNESS_PREFIX: Final = "data_freshness_"


class _EveryKey:
    """Watch every key (the default: report every pass)."""

    def __contains__(self, key: object) -> bool:
        return True


# Passes only matter for keys that are failing; callers pass the failing keys as `watch` so
# that the common, passing case builds nothing.
EVERY_KEY: Final[Container[str]] = _EveryKey()


@dataclass(slots=True)  # not frozen: a frozen one sets each field via object.__setattr__
class Outcome:
    """The result of one check for one incident key (never changed once made)."""

    key: str
    failed: bool
    kind: DetectionKind
    subject: str
    detection: type[DetectionData]
    hint: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    part: str = ""  # tells apart several findings for one key from one signal


def invariant_key(invariant_id: str) -> str:
    return f"INV_{invariant_id}"


def freshness_key(agent: str) -> str:
    return invariant_key(FRESHNESS_PREFIX + agent)


def budget_key(agent: str, budget_type: str) -> str:
    return f"BUDGET_{agent}_{budget_type}"


def planner_key(version: str) -> str:
    return f"PLANNER_REG_{version}"


def _num(value: float) -> str:
    return f"{value:g}"


def check_eval(sig: EvalRunCompleted, watch: Container[str] = EVERY_KEY) -> list[Outcome]:
    """Each invariant passes or fails its key; any eval run also proves the agent's data fresh."""
    outcomes = []
    for inv in sig.invariants:  # a loop, not a comprehension: no frame of its own per signal
        if not inv.passed or invariant_key(inv.id) in watch:
            outcomes.append(_invariant(sig, inv))
    key = freshness_key(sig.agent)
    if key not in watch:
        return outcomes
    fresh = Outcome(
        key,
        False,
        "invariant",
        sig.agent,
        InvariantViolated,
        evidence={
            "passed": {"id": FRESHNESS_PREFIX + sig.agent, "run_id": sig.run_id},
            "agent": sig.agent,
        },
    )
    return [fresh, *outcomes]


def _invariant(sig: EvalRunCompleted, inv: InvariantResult) -> Outcome:
    detail = {
        "id": inv.id,
        "name": inv.name,
        "threshold": inv.threshold,
        "actual": inv.actual,
        "unit": inv.unit,
        "message": inv.message,
    }
    evidence = {
        "invariant" if not inv.passed else "passed": detail,
        "agent": sig.agent,
        "run_id": sig.run_id,
        "task_id": sig.task_id,
    }
    return Outcome(
        invariant_key(inv.id),
        not inv.passed,
        "invariant",
        sig.agent,
        InvariantViolated,
        hint=inv.priority,
        evidence=evidence,
    )


def check_budget(
    sig: BudgetMetricsReported, budget: Budget | None, watch: Container[str] = EVERY_KEY
) -> list[Outcome]:
    """Every metric against the agent's budget; no budget or no metric means no outcome."""
    if budget is None:
        return []
    settled = []
    for bt in BUDGET_TYPES:
        limit: float | None = getattr(budget, bt.limit)
        actual: float | None = getattr(sig.metrics, bt.metric)
        if limit is None or actual is None:
            continue
        failed = actual < limit if bt.minimum else actual > limit
        if failed or budget_key(sig.agent, bt.name) in watch:
            settled.append((bt, limit, actual, failed))
    if not settled:
        return []
    metrics = sig.metrics.model_dump(exclude_none=True) if any(s[3] for s in settled) else {}
    return [
        _budget_outcome(sig.agent, bt, limit, actual, failed, "watcher", metrics)
        for bt, limit, actual, failed in settled
    ]


def _budget_outcome(
    agent: str,
    bt: BudgetType,
    limit: float | None,
    actual: float | None,
    failed: bool,
    source: str,
    metrics: dict[str, Any],
    message: str | None = None,
    hint: str | None = None,
) -> Outcome:
    check: dict[str, Any] = {"budget_type": bt.name, "threshold": limit, "actual": actual}
    evidence: dict[str, Any] = {"agent": agent, "source": source}
    if failed:  # passes are the common case: no message, no metrics copy
        check["message"] = message if message is not None else _message(bt, limit, actual)
        evidence = {"violation": check, **evidence, "current_metrics": metrics}
    else:
        evidence["passed"] = check
    key = budget_key(agent, bt.name)
    return Outcome(key, failed, "budget", agent, BudgetExceeded, hint or bt.severity, evidence)


def _message(bt: BudgetType, limit: float | None, actual: float | None) -> str:
    if limit is None or actual is None:
        return f"{bt.label} outside budget"
    verb = "below" if bt.minimum else "exceeds"
    return f"{bt.label} {_num(actual)}{bt.unit} {verb} budget {_num(limit)}{bt.unit}"


def check_gate(sig: GateEvaluated, watch: Container[str] = EVERY_KEY) -> list[Outcome]:
    """A failed gate's violations fail their budget keys (the same keys as the watcher's own
    budget check); every standard budget type the gate did not flag passes."""
    flagged = {v.budget_type for v in sig.violations}
    outcomes = []
    if not sig.passed:
        for v in sig.violations:
            bt = BUDGET_TYPE_BY_NAME.get(v.budget_type) or BudgetType(
                v.budget_type, v.budget_type, "", False, v.severity, v.budget_type, ""
            )
            metrics = {bt.metric: v.actual} if v.actual is not None else {}
            outcomes.append(
                _budget_outcome(
                    sig.agent,
                    bt,
                    v.threshold,
                    v.actual,
                    True,
                    "gate",
                    metrics,
                    message=v.message,
                    hint=v.severity,
                )
            )
    for bt in BUDGET_TYPES:
        if bt.name not in flagged and budget_key(sig.agent, bt.name) in watch:
            outcomes.append(_budget_outcome(sig.agent, bt, None, None, False, "gate", {}))
    return outcomes
