"""The four pinned input signals producers publish (DESIGN.md, "Input signals")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from . import topics
from .base import Event, register

Priority = Literal["critical", "high", "medium", "low"]
ViolationSeverity = Literal["critical", "error", "warning"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class InvariantResult(_Part):
    id: str = Field(min_length=1, max_length=200)
    name: str = Field(max_length=500)
    passed: bool
    priority: Priority = "medium"
    threshold: float | None = None
    actual: float | None = None
    unit: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=4000)


@register(topics.SIGNALS_EVAL)
class EvalRunCompleted(Event):
    run_id: str = Field(min_length=1, max_length=200)
    agent: str = Field(min_length=1, max_length=200)
    task_id: str | None = Field(default=None, max_length=200)
    quality_score: float | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    invariants: tuple[InvariantResult, ...] = ()


class BudgetMetrics(_Part):
    quality_score: float | None = None
    success_rate: float | None = None
    avg_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    cost_usd: float | None = None


@register(topics.SIGNALS_BUDGET)
class BudgetMetricsReported(Event):
    agent: str = Field(min_length=1, max_length=200)
    window_start: datetime | None = None
    window_end: datetime | None = None
    samples: int = Field(default=0, ge=0)
    metrics: BudgetMetrics


class CanaryMetrics(_Part):
    accuracy: float | None = None
    p95_latency_ms: float | None = None
    cost_usd: float | None = None


@register(topics.SIGNALS_CANARY)
class CanaryMetricsReported(Event):
    planner: str = Field(default="planner", min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=200)
    baseline_version: str = Field(min_length=1, max_length=200)
    canary_percent: float = Field(ge=0, le=100)
    samples: int = Field(ge=0)
    metrics: CanaryMetrics
    baseline: CanaryMetrics


class GateViolation(_Part):
    budget_type: str = Field(min_length=1, max_length=100)
    threshold: float | None = None
    actual: float | None = None
    severity: ViolationSeverity = "error"
    message: str | None = Field(default=None, max_length=4000)


@register(topics.SIGNALS_GATE)
class GateEvaluated(Event):
    gate: str = Field(min_length=1, max_length=200)
    agent: str = Field(min_length=1, max_length=200)
    passed: bool
    violations: tuple[GateViolation, ...] = ()


Signal = EvalRunCompleted | BudgetMetricsReported | CanaryMetricsReported | GateEvaluated
