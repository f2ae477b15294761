"""Watcher settings from settings.yaml: budgets per agent, canary tolerances, freshness and the
sweep interval. Validation errors name the bad key (`interventions.budgets.<agent>.<field>`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from interventions_platform.config import WatcherSection, section
from interventions_platform.durations import Duration, parse_duration
from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

Priority = Literal["critical", "high", "medium", "low"]


class Budget(BaseModel):
    """One agent's budget; a field left None is not checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_quality_score: float | None = Field(default=None, ge=0)
    min_success_rate: float | None = Field(default=None, ge=0, le=1)
    max_avg_latency_ms: float | None = Field(default=None, gt=0)
    max_p95_latency_ms: float | None = Field(default=None, gt=0)
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, ge=0)


def _budget(quality: float, success: float, avg: float, p95: float, p99: float) -> Budget:
    return Budget(
        min_quality_score=quality,
        min_success_rate=success,
        max_avg_latency_ms=avg,
        max_p95_latency_ms=p95,
        max_p99_latency_ms=p99,
    )


# REFERENCE.md, "Default budgets per agent"; the seed system set no default cost budget.
DEFAULT_BUDGETS: dict[str, Budget] = {
    "inbox.triage": _budget(85, 0.95, 500, 1000, 2000),
    "knowledge.update": _budget(80, 0.90, 2000, 5000, 10000),
    "insights.write": _budget(75, 0.85, 3000, 8000, 15000),
    "warehouse.health": _budget(90, 0.98, 1000, 3000, 5000),
}


class BudgetsSection(RootModel[dict[str, Budget]]):
    """`interventions.budgets`: per-agent overrides and new agents."""

    root: dict[str, Budget] = Field(default_factory=dict)


class CanaryTolerances(BaseModel):
    """How far a canary may degrade against its baseline before it is a regression."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    accuracy_drop: float = Field(default=0.05, gt=0, le=1)  # absolute
    p95_latency_increase: float = Field(default=0.30, gt=0)  # relative (0.3 = +30%)
    cost_increase: float = Field(default=0.30, gt=0)  # relative
    min_samples: int = Field(default=30, ge=1)


class FreshnessSettings(BaseModel):
    """No eval for an agent within its threshold is a data-freshness invariant violation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    default: Duration = parse_duration("1h")
    agents: dict[str, Duration] = Field(default_factory=dict)
    priority: Priority = "critical"

    def threshold_for(self, agent: str) -> timedelta:
        return self.agents.get(agent, self.default)


class WatcherSettings(WatcherSection):
    """`interventions.watcher`: the guide's block, the pinned `interval`, and our checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    canary: CanaryTolerances = CanaryTolerances()
    freshness: FreshnessSettings = FreshnessSettings()
    # Kafka consumer-group session; shorter means faster failover and a faster first join
    # (the embedded Tansu broker holds a new group's first join for about half of it).
    session_timeout: Duration = Field(default=parse_duration("15s"))

    def subscriber_overrides(self) -> dict[str, int]:
        """Session and heartbeat settings for the FastStream subscriber."""
        session_ms = int(self.session_timeout.total_seconds() * 1000)
        return {
            "session_timeout_ms": session_ms,
            "heartbeat_interval_ms": max(session_ms // 5, 100),
        }

    @model_validator(mode="after")
    def _positive_interval(self) -> WatcherSettings:
        if self.effective_interval() <= 0:
            raise ValueError("the sweep interval must be positive, e.g. interval: 15m")
        if not 1 <= self.session_timeout.total_seconds() <= 300:
            raise ValueError("session_timeout must be between 1s and 5m")
        return self


@dataclass(frozen=True)
class Settings:
    """Everything the watcher's checks need, validated."""

    watcher: WatcherSettings
    budgets: dict[str, Budget]

    @property
    def interval_s(self) -> float:
        return self.watcher.effective_interval()

    @property
    def canary(self) -> CanaryTolerances:
        return self.watcher.canary

    @property
    def freshness(self) -> FreshnessSettings:
        return self.watcher.freshness


def merge_budgets(overrides: dict[str, Budget]) -> dict[str, Budget]:
    """Defaults updated field by field with overrides; an explicit null disables a check."""
    merged = dict(DEFAULT_BUDGETS)
    for agent, override in overrides.items():
        base = merged.get(agent, Budget())
        changes = {name: getattr(override, name) for name in override.model_fields_set}
        merged[agent] = base.model_copy(update=changes)
    return merged


def load(raw: dict[str, Any]) -> Settings:
    """Validate the watcher's parts of the `interventions:` block (raises ConfigError)."""
    watcher = section(WatcherSettings, raw, "watcher")
    overrides = section(BudgetsSection, raw, "budgets").root
    return Settings(watcher=watcher, budgets=merge_budgets(overrides))
