"""What the demo sends, as pure data: healthy signals and the guide's three scenarios."""

from __future__ import annotations

import random
from dataclasses import dataclass

from interventions_events import Event
from interventions_events.signals import (
    BudgetMetrics,
    BudgetMetricsReported,
    CanaryMetrics,
    CanaryMetricsReported,
    EvalRunCompleted,
    InvariantResult,
)

AGENTS = ("inbox.triage", "knowledge.update", "insights.write", "warehouse.health")
HEALTHY_P95 = {
    "inbox.triage": 600,
    "knowledge.update": 2500,
    "insights.write": 4000,
    "warehouse.health": 1500,
}


@dataclass(frozen=True)
class Step:
    at_s: float
    key: str
    signal: Event
    note: str = ""


def freshness(agent: str, *, passed: bool, actual: float, run: int) -> EvalRunCompleted:
    return EvalRunCompleted(
        run_id=f"demo-run-{run}",
        agent=agent,
        task_id="triage-001",
        quality_score=91.0,
        latency_ms=420.0,
        cost_usd=0.002,
        invariants=(
            InvariantResult(
                id="data_freshness_inbox",
                name="Data freshness",
                passed=passed,
                priority="critical",
                threshold=300,
                actual=actual,
                unit="seconds",
                message=f"inbox data is {actual:.0f} s old",
            ),
        ),
    )


def healthy_eval(agent: str, run: int, rng: random.Random) -> EvalRunCompleted:
    return EvalRunCompleted(
        run_id=f"demo-run-{run}",
        agent=agent,
        task_id="t-1",
        quality_score=round(rng.uniform(92, 98), 1),
        latency_ms=round(rng.uniform(200, 450)),
        cost_usd=0.002,
    )


def budget(agent: str, p95: float, rng: random.Random) -> BudgetMetricsReported:
    return BudgetMetricsReported(
        agent=agent,
        samples=500,
        metrics=BudgetMetrics(
            quality_score=round(rng.uniform(92, 97), 1),
            success_rate=0.99,
            avg_latency_ms=min(400, p95 / 3),
            p95_latency_ms=p95,
            p99_latency_ms=p95 * 1.3,
            cost_usd=0.5,
        ),
    )


def canary(accuracy: float) -> CanaryMetricsReported:
    return CanaryMetricsReported(
        planner="planner",
        version="v1.2.3-canary",
        baseline_version="v1.2.2",
        canary_percent=10,
        samples=200,
        metrics=CanaryMetrics(accuracy=accuracy, p95_latency_ms=900, cost_usd=0.02),
        baseline=CanaryMetrics(accuracy=0.92, p95_latency_ms=850, cost_usd=0.02),
    )


def timeline(seed: int = 1) -> list[Step]:
    """One minute of traffic: healthy background, then freshness, latency and canary failures
    (repeated, so deduplication shows), then the freshness recovery."""
    rng = random.Random(seed)
    steps: list[Step] = []
    run = 0
    for tick in range(0, 60, 3):
        for agent in AGENTS:
            run += 1
            if agent != "inbox.triage" or not 5 <= tick < 40:
                steps.append(Step(tick, agent, healthy_eval(agent, run, rng)))
            spike = agent == "inbox.triage" and 10 <= tick < 45
            p95 = 1850 if spike else HEALTHY_P95[agent]
            note = "scenario 2: p95 latency spike" if spike else ""
            steps.append(Step(tick + 0.5, agent, budget(agent, p95, rng), note))
        if 5 <= tick < 40:
            run += 1
            steps.append(
                Step(
                    tick + 1,
                    "inbox.triage",
                    freshness("inbox.triage", passed=False, actual=1800, run=run),
                    "scenario 1: data freshness violation",
                )
            )
        if tick >= 40:
            run += 1
            steps.append(
                Step(
                    tick + 1,
                    "inbox.triage",
                    freshness("inbox.triage", passed=True, actual=120, run=run),
                    "recovery: data is fresh again",
                )
            )
        accuracy = 0.79 if 15 <= tick < 50 else 0.91
        steps.append(
            Step(
                tick + 2,
                "v1.2.3-canary",
                canary(accuracy),
                "scenario 3: canary accuracy drop" if accuracy < 0.9 else "",
            )
        )
    return sorted(steps, key=lambda s: s.at_s)
