"""Gateway settings: the `gateway:` section of settings.yaml plus the upstream URLs from the
environment."""

from __future__ import annotations

from interventions_platform.config import section
from interventions_platform.env import RuntimeEnv
from pydantic import BaseModel, ConfigDict, Field


class GatewaySection(BaseModel):
    """`interventions.gateway` in settings.yaml; every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # CORS is closed unless origins are listed here (the console is same-origin)
    cors_allow_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=2_097_152, ge=1024)
    max_batch_events: int = Field(default=1000, ge=1)
    sse_connections_per_token: int = Field(default=5, ge=1)
    upstream_connect_timeout_s: float = Field(default=2.0, gt=0)
    upstream_read_timeout_s: float = Field(default=30.0, gt=0)
    openapi_refresh_s: float = Field(default=30.0, gt=0)
    upstream_ready_timeout_s: float = Field(default=1.0, gt=0)


def upstream_urls(env: RuntimeEnv) -> dict[str, str]:
    """Where each service listens, from INTERVENTIONS_<SERVICE>_URL."""
    return {
        "incidents": env.interventions_incidents_url.rstrip("/"),
        "watcher": env.interventions_watcher_url.rstrip("/"),
        "playbooks": env.interventions_playbooks_url.rstrip("/"),
        "notifier": env.interventions_notifier_url.rstrip("/"),
        "issue-sync": env.interventions_issue_sync_url.rstrip("/"),
    }


def load(raw: dict[str, object]) -> GatewaySection:
    return section(GatewaySection, raw, "gateway")
