"""The configured targets actions act on, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass

from .adapters.dbt import DbtRunner
from .adapters.deploy import DeploymentEndpoint
from .adapters.elasticsearch import ElasticsearchClient
from .settings import PlaybooksSettings


@dataclass(frozen=True)
class Targets:
    """Adapters aimed by settings/env; `topic_prefix` names the command topics."""

    search: ElasticsearchClient
    dbt: DbtRunner
    deployment: DeploymentEndpoint | None
    topic_prefix: str
    output_limit: int = 8000


def build_targets(cfg: PlaybooksSettings, topic_prefix: str) -> Targets:
    deployment = (
        DeploymentEndpoint(cfg.planner.deployment_url, cfg.planner.timeout.total_seconds())
        if cfg.planner.deployment_url
        else None
    )
    return Targets(
        search=ElasticsearchClient(cfg.elasticsearch),
        dbt=DbtRunner(cfg.dbt, cfg.output_limit),
        deployment=deployment,
        topic_prefix=topic_prefix,
        output_limit=cfg.output_limit,
    )
