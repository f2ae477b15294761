"""Shared loaders for the deployment-file tests: the compose file, its topic table and the
rendered Kubernetes overlays. Nothing here needs Docker or a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from interventions_platform.devstack import SERVICES
from interventions_platform.env import SERVICE_PORTS

from .kustomize import render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
TopicTable = dict[str, tuple[int, int]]


def compose_topics(compose: dict[str, Any]) -> TopicTable:
    """name -> (partitions, retention.ms) from the topic setup service's table."""
    table = compose["services"]["kafka-topics"]["environment"]["INTERVENTIONS_TOPICS"]
    rows = [line.split() for line in table.splitlines() if line.strip()]
    return {name: (int(parts), int(retention)) for name, parts, retention in rows}


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="session")
def topic_table(compose: dict[str, Any]) -> TopicTable:
    return compose_topics(compose)


@pytest.fixture(scope="session")
def services() -> list[tuple[str, str, int]]:
    """(service, module, default port) for every service the code defines."""
    return [(name, module, SERVICE_PORTS[name]) for name, module in SERVICES]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """base and each overlay, rendered the way `kubectl kustomize` would."""
    out = {"base": render(K8S / "base")}
    out.update({name: render(K8S / "overlays" / name) for name in OVERLAYS})
    return out
