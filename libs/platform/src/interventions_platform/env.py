"""Environment settings shared by every process (names pinned in DESIGN.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_PORTS = {
    "gateway": 8000,
    "incidents": 8001,
    "watcher": 8002,
    "playbooks": 8003,
    "notifier": 8004,
    "issue-sync": 8005,
}


class RuntimeEnv(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = "interventions."
    database_url: str = "postgresql://postgres@127.0.0.1:5432/interventions"
    interventions_http_port: int = 8000
    interventions_admin_token: SecretStr | None = None
    interventions_config: str | None = None
    interventions_console_url: str = "http://127.0.0.1:8000"
    interventions_log_level: str = "INFO"
    # the address services listen on: loopback for local runs, 0.0.0.0 in containers
    interventions_bind_host: str = "127.0.0.1"
    # where the gateway finds each service (a deployment may route instead)
    interventions_incidents_url: str = "http://127.0.0.1:8001"
    interventions_watcher_url: str = "http://127.0.0.1:8002"
    interventions_playbooks_url: str = "http://127.0.0.1:8003"
    interventions_notifier_url: str = "http://127.0.0.1:8004"
    interventions_issue_sync_url: str = "http://127.0.0.1:8005"
    # each service's own port; 0 means the default from SERVICE_PORTS
    interventions_service_port: int = Field(default=0)
    otel_exporter_otlp_endpoint: str | None = None
    interventions_trace_file: str | None = None

    def port_for(self, service: str) -> int:
        if service == "gateway":
            return self.interventions_http_port
        return self.interventions_service_port or SERVICE_PORTS[service]
