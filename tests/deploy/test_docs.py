"""docs/CONFIGURATION.md lists every environment variable the platform reads and every pinned
one; docs/DEPLOY.md names every secret the manifests reference."""

from __future__ import annotations

from typing import Any

from interventions_platform.env import RuntimeEnv

from .conftest import ROOT

CONFIGURATION = (ROOT / "docs" / "CONFIGURATION.md").read_text()
DEPLOY = (ROOT / "docs" / "DEPLOY.md").read_text()
# pinned in DESIGN.md "Configuration"
PINNED = [
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "KAFKA_TOPIC_PREFIX",
    "INTERVENTIONS_HTTP_PORT",
    "INTERVENTIONS_ADMIN_TOKEN",
    "PAGERDUTY_ROUTING_KEY",
    "PAGERDUTY_EVENTS_URL",
    "SLACK_WEBHOOK_URL",
    "GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "GITLAB_URL",
    "GITLAB_TOKEN",
    "GITLAB_PROJECT_ID",
    "JIRA_URL",
    "JIRA_EMAIL",
    "JIRA_API_TOKEN",
    "JIRA_PROJECT_KEY",
    "ELASTICSEARCH_URL",
    "DBT_PROJECT_DIR",
]


def test_every_runtime_environment_variable_is_documented() -> None:
    for field in RuntimeEnv.model_fields:
        assert f"`{field.upper()}`" in CONFIGURATION, field.upper()


def test_every_pinned_environment_variable_is_documented() -> None:
    for var in PINNED:
        assert f"`{var}`" in CONFIGURATION, var


def test_every_secret_the_manifests_reference_is_documented(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    names = set()
    for docs in rendered.values():
        for d in docs:
            if d["kind"] != "Deployment":
                continue
            c = d["spec"]["template"]["spec"]["containers"][0]
            names |= {
                e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", []) if "valueFrom" in e
            }
            names |= {s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s}
    assert names >= {"interventions-admin", "interventions-database", "interventions-pg-app"}
    for name in names:
        assert f"`{name}`" in DEPLOY, name
