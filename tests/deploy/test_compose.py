"""docker-compose.yml: valid against the Compose specification, and complete: every service
and every pinned topic the code knows, wired the way the services read their environment."""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
from typing import Any

import jsonschema
import pytest
from interventions_events import topics
from interventions_platform import kafka
from interventions_platform.config import load_core, load_raw
from interventions_platform.env import RuntimeEnv

from .conftest import ROOT, TopicTable

Compose = dict[str, Any]


def compose_schema() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return dict(json.loads((vendor / "compose-spec.json").read_text()))


def errors(doc: Compose) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [e.message for e in validator.iter_errors(doc)]


def test_compose_file_matches_the_compose_specification(compose: Compose) -> None:
    assert errors(compose) == []


def test_the_schema_check_rejects_a_misspelt_service_key(compose: Compose) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["healthchek"] = broken["services"]["gateway"].pop("healthcheck")
    assert any("healthchek" in e for e in errors(broken))


def test_every_service_runs_its_module_from_the_one_dockerfile(
    compose: Compose, services: list[tuple[str, str, int]]
) -> None:
    for name, module, _ in services:
        svc = compose["services"][name]
        assert svc["command"] == ["python", "-m", module], name
        assert svc["build"]["dockerfile"] == "Dockerfile", name
        assert svc["build"]["target"] in ("runtime", "playbooks"), name
    assert compose["services"]["playbooks"]["build"]["target"] == "playbooks"


def test_every_service_healthcheck_probes_readyz_on_its_own_port(
    compose: Compose, services: list[tuple[str, str, int]]
) -> None:
    for name, _, port in services:
        probe = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in probe, name


def test_services_restart_and_wait_for_postgres_and_the_topics(
    compose: Compose, services: list[tuple[str, str, int]]
) -> None:
    for name, _, _ in services:
        svc = compose["services"][name]
        assert svc["restart"] == "unless-stopped", name
        assert svc["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
        assert svc["depends_on"]["kafka-topics"] == {
            "condition": "service_completed_successfully"
        }, name
    assert compose["services"]["kafka-topics"]["restart"] == "no"


def test_services_listen_on_all_interfaces_and_reach_kafka_and_postgres_by_name(
    compose: Compose, services: list[tuple[str, str, int]]
) -> None:
    for name, _, _ in services:
        env = compose["services"][name]["environment"]
        assert env["INTERVENTIONS_BIND_HOST"] == "0.0.0.0", name
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["INTERVENTIONS_CONFIG"] == "/etc/interventions/settings.yaml", name


def test_the_gateway_finds_every_service_by_its_compose_name_and_port(
    compose: Compose, services: list[tuple[str, str, int]]
) -> None:
    env = compose["services"]["gateway"]["environment"]
    fields = RuntimeEnv.model_fields
    for name, _, port in services:
        if name == "gateway":
            continue
        var = f"INTERVENTIONS_{name.upper().replace('-', '_')}_URL"
        assert var.lower() in fields, f"{var} is not a RuntimeEnv setting"
        assert env[var] == f"http://{name}:{port}"
    assert compose["services"]["gateway"]["ports"] == ["${INTERVENTIONS_HTTP_PUBLISH:-8000}:8000"]


def test_secrets_come_from_the_environment_never_from_the_file(compose: Compose) -> None:
    secretish = re.compile(r"TOKEN|PASSWORD|ROUTING_KEY|WEBHOOK|API_KEY|SECRET")
    for name, svc in compose["services"].items():
        for var, value in (svc.get("environment") or {}).items():
            if secretish.search(var):
                assert value is None or str(value).startswith("${"), f"{name}.{var}"
    url = compose["services"]["gateway"]["environment"]["DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in url


def test_kafka_is_the_official_image_in_kraft_mode_with_a_durable_volume(
    compose: Compose,
) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "ZOOKEEPER" not in " ".join(kafka["environment"])
    assert kafka["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert "kafka-data:/var/lib/kafka/data" in kafka["volumes"]


def test_topic_setup_creates_every_pinned_topic_exactly_once(
    compose: Compose, topic_table: TopicTable
) -> None:
    table = compose["services"]["kafka-topics"]["environment"]["INTERVENTIONS_TOPICS"]
    names = [line.split()[0] for line in table.splitlines() if line.strip()]
    assert sorted(names) == sorted(topics.ALL_TOPICS)
    assert len(names) == len(set(names))
    assert compose["services"]["kafka-topics"]["environment"]["PREFIX"] == (
        "${KAFKA_TOPIC_PREFIX:-" + topics.DEFAULT_PREFIX + "}"
    )


@pytest.mark.parametrize("topic", [topics.SIGNALS_EVAL, topics.DETECTIONS, topics.INCIDENTS])
def test_keyed_hot_topics_have_twelve_partitions(topic: str, topic_table: TopicTable) -> None:
    assert topic_table[topic][0] == 12


def test_topics_a_service_creates_itself_keep_the_deployed_proportions(
    topic_table: TopicTable,
) -> None:
    """The embedded broker's topics (created by `ensure_topics`) have a third of the deployed
    partitions, so what is busy in a deployment is busy there too."""
    assert sorted(kafka.PARTITIONS) == sorted(topics.ALL_TOPICS)
    for topic, (partitions, _) in topic_table.items():
        assert partitions == 3 * kafka.PARTITIONS[topic], topic


def test_the_incident_record_topics_are_kept_longer_than_signals(topic_table: TopicTable) -> None:
    signals = topic_table[topics.SIGNALS_EVAL][1]
    for topic in (topics.INCIDENTS, topics.ACTIONS, topics.NOTIFICATIONS, topics.ISSUES):
        assert topic_table[topic][1] > signals, topic


def test_settings_mounted_into_every_service_is_valid(
    compose: Compose, services: list[tuple[str, str, int]]
) -> None:
    for name, _, _ in services:
        mount = compose["services"][name]["volumes"][0]
        assert mount == (
            "${INTERVENTIONS_SETTINGS:-./deploy/settings.example.yaml}"
            ":/etc/interventions/settings.yaml:ro"
        ), name
    core = load_core(load_raw(ROOT / "deploy" / "settings.example.yaml"))
    assert core.enabled and core.watcher.effective_interval() == 900.0
    assert core.max_incidents_per_window() == 3 and core.rate_limit_window_s() == 3600.0
