"""The Dockerfile builds every service from uv.lock as a non-root image, and the Grafana
dashboard charts every platform metric (with no Docker or Grafana needed)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from interventions_platform import metrics
from prometheus_client.metrics import MetricWrapperBase

from .conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
# metrics other services define (names coordinated in docs/DEPLOY.md)
SERVICE_METRICS = {
    "interventions_incidents_opened_total",
    "interventions_watcher_detections_total",
    "interventions_watcher_sweep_seconds_bucket",
    "notifier_deliveries_total",
    "interventions_issue_sync_ops_total",
    "notifier_sse_clients",
    "notifier_sse_dropped_total",
}


def stages() -> dict[str, str]:
    """stage name -> its instructions."""
    parts = re.split(r"^FROM\s+", DOCKERFILE, flags=re.M)[1:]
    out = {}
    for part in parts:
        header, _, body = part.partition("\n")
        out[header.split(" AS ")[-1].strip()] = body
    return out


def test_the_builder_installs_the_locked_workspace_without_dev_tools() -> None:
    builder = stages()["builder"]
    assert "uv sync --frozen --no-dev --all-packages" in builder
    assert "UV_NO_EDITABLE=1" in builder and "UV_PROJECT_ENVIRONMENT=/app/.venv" in builder


def test_runtime_images_run_as_a_non_root_user_on_python_3_11_slim() -> None:
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE
    for target in ("runtime", "playbooks"):
        body = stages()[target]
        assert re.search(r"^USER 10001", body, flags=re.M), target
        assert "COPY --from=builder" in body and "/app/.venv" in body, target
    assert list(stages())[-1] == "runtime", "runtime must be the default (last) target"


def test_the_playbooks_image_adds_dbt_pinned_by_the_lock() -> None:
    dbt = stages()["builder-dbt"]
    assert "uv export" in dbt and "--frozen" in dbt
    assert "-c /tmp/constraints.txt" in dbt and "dbt-core dbt-postgres" in dbt
    assert "COPY --from=builder-dbt /app/.venv" in stages()["playbooks"]


def test_every_service_module_is_a_workspace_package_the_image_installs(
    services: list[tuple[str, str, int]],
) -> None:
    for name, module, _ in services:
        assert (ROOT / "services" / name / "src" / module / "__init__.py").is_file(), name
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "*" in ignore
    for kept in ("!pyproject.toml", "!uv.lock", "!libs/", "!services/"):
        assert kept in ignore


def dashboard() -> dict[str, Any]:
    return dict(json.loads((ROOT / "deploy" / "grafana" / "interventions.json").read_text()))


def expressions() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def exposed_names(metric: MetricWrapperBase) -> set[str]:
    name = metric._name
    kind = metric._type
    if kind == "counter":
        return {f"{name}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return {name}


PLATFORM = [m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)]


@pytest.mark.parametrize("metric", PLATFORM, ids=lambda m: m._name)
def test_the_dashboard_charts_every_platform_metric(metric: MetricWrapperBase) -> None:
    used = " ".join(expressions())
    assert any(re.search(rf"\b{n}\b", used) for n in exposed_names(metric))


def test_the_dashboard_queries_only_metrics_that_exist() -> None:
    known = set().union(*(exposed_names(m) for m in PLATFORM)) | SERVICE_METRICS
    for expr in expressions():
        for name in re.findall(r"\b((?:interventions|notifier)_[a-z_]+)\b", expr):
            assert name in known, f"{name} in {expr}"


def test_every_dashboard_panel_uses_the_datasource_variable() -> None:
    board = dashboard()
    assert board["uid"] == "interventions"
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "namespace"} <= names
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
