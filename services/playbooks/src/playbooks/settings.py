"""The playbooks service's settings: `interventions.playbooks` and `interventions.approvals`.

Action targets (Elasticsearch, dbt project, deployment endpoint) come only from here and the
environment, never from a request.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from interventions_platform.config import section
from interventions_platform.durations import Duration, parse_duration
from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Section):
    max_executions: int = Field(default=5, ge=1)
    window: Duration = parse_duration("1h")


class CircuitBreaker(_Section):
    failure_threshold: int = Field(default=3, ge=1)


class ElasticsearchTarget(_Section):
    url: str = ""
    api_key: SecretStr | None = None
    indices: list[str] = Field(default_factory=list)
    timeout: Duration = parse_duration("30s")

    def base_url(self) -> str:
        return (self.url or os.environ.get("ELASTICSEARCH_URL") or "http://127.0.0.1:9200").rstrip(
            "/"
        )


class DbtTarget(_Section):
    project_dir: str = ""
    profiles_dir: str = ""
    target: str | None = None
    executable: str = ""
    timeout: Duration = parse_duration("30m")

    def project(self) -> Path | None:
        path = self.project_dir or os.environ.get("DBT_PROJECT_DIR", "")
        return Path(path) if path else None

    def profiles(self) -> Path | None:
        path = self.profiles_dir or os.environ.get("DBT_PROFILES_DIR", "")
        return Path(path) if path else None

    def binary(self) -> str:
        if self.executable:
            return self.executable
        beside = Path(sys.executable).parent / "dbt"
        return str(beside) if beside.exists() else "dbt"


class PlannerTarget(_Section):
    deployment_url: str | None = None
    timeout: Duration = parse_duration("30s")


class PlaybooksSettings(_Section):
    approval_required_for_severities: list[str] = Field(default_factory=lambda: ["sev1"])
    rate_limit: RateLimit = RateLimit()
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    execution_timeout: Duration = parse_duration("10m")
    expiry_check_interval: Duration = parse_duration("15s")
    output_limit: int = Field(default=8000, ge=200)
    elasticsearch: ElasticsearchTarget = ElasticsearchTarget()
    dbt: DbtTarget = DbtTarget()
    planner: PlannerTarget = PlannerTarget()


class ApprovalsSettings(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    ttl: Duration = parse_duration("30m")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)
    playbooks: PlaybooksSettings = PlaybooksSettings()
    approvals: ApprovalsSettings = ApprovalsSettings()

    @property
    def approval_ttl(self) -> timedelta:
        return self.approvals.ttl


def load(raw: dict[str, Any]) -> Settings:
    """Validate the two sections; a bad key raises ConfigError naming it."""
    return Settings(
        playbooks=section(PlaybooksSettings, raw, "playbooks"),
        approvals=section(ApprovalsSettings, raw, "approvals"),
    )
