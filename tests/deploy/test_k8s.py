"""deploy/k8s: base and overlays render, core kinds pass the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields fail), and every service and topic the code knows
is deployed with probes on its real health endpoints and port."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from interventions_events import topics
from kubernetes_validate import utils as kv

from .conftest import OVERLAYS, ROOT, TopicTable

Doc = dict[str, Any]
Rendered = dict[str, list[Doc]]
CRD_GROUPS = ("kafka.strimzi.io/", "postgresql.cnpg.io/")
# the oldest and newest Kubernetes minor versions we claim to support
K8S_VERSIONS = ("1.30.0", "1.34.0")
ALL = ("base", *OVERLAYS)


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def port_number(c: Doc, port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in c["ports"] if p["name"] == port))


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("tree", ALL)
def test_core_resources_match_the_kubernetes_schemas(
    tree: str, version: str, rendered: Rendered
) -> None:
    core = [d for d in rendered[tree] if not d["apiVersion"].startswith(CRD_GROUPS)]
    assert len(core) >= 25
    for doc in core:
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{tree} {doc['kind']}/{doc['metadata']['name']}: {exc}")


def test_the_schema_check_rejects_a_misspelt_probe(rendered: Rendered) -> None:
    broken = copy.deepcopy(of_kind(rendered["prod"], "Deployment")["incidents"])
    c = broken["spec"]["template"]["spec"]["containers"][0]
    c["readinesProbe"] = c.pop("readinessProbe")
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("tree", ALL)
def test_every_service_is_deployed_with_probes_on_its_health_endpoints(
    tree: str, rendered: Rendered, services: list[tuple[str, str, int]]
) -> None:
    deployments = of_kind(rendered[tree], "Deployment")
    assert set(deployments) == {name for name, _, _ in services}
    for name, module, port in services:
        c = container(deployments[name])
        assert c["command"] == ["python", "-m", module], name
        assert [p["containerPort"] for p in c["ports"]] == [port], name
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = c[probe]["httpGet"]
            assert (get["path"], port_number(c, get["port"])) == (path, port), f"{name} {probe}"
        assert c["resources"]["requests"] and c["resources"]["limits"], name


@pytest.mark.parametrize("tree", ALL)
def test_every_service_has_a_service_and_a_disruption_budget_selecting_its_pods(
    tree: str, rendered: Rendered, services: list[tuple[str, str, int]]
) -> None:
    deployments = of_kind(rendered[tree], "Deployment")
    svcs, pdbs = of_kind(rendered[tree], "Service"), of_kind(rendered[tree], "PodDisruptionBudget")
    for name, _, port in services:
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert deployments[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert svcs[name]["spec"]["selector"].items() <= pod_labels.items(), name
        assert [p["port"] for p in svcs[name]["spec"]["ports"]] == [port], name
        assert pdbs[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), name


@pytest.mark.parametrize("tree", ALL)
def test_every_consumer_autoscales_no_further_than_its_partitions(
    tree: str, rendered: Rendered, services: list[tuple[str, str, int]], topic_table: TopicTable
) -> None:
    hpas = of_kind(rendered[tree], "HorizontalPodAutoscaler")
    consumers = {name for name, _, _ in services if name != "gateway"}
    assert set(hpas) == consumers
    most = max(partitions for partitions, _ in topic_table.values())
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= most


@pytest.mark.parametrize("tree", ALL)
def test_every_pinned_topic_is_a_kafka_topic_with_the_compose_settings(
    tree: str, rendered: Rendered, topic_table: TopicTable
) -> None:
    kts = list(of_kind(rendered[tree], "KafkaTopic").values())
    by_topic = {kt["spec"]["topicName"]: kt for kt in kts}
    assert len(by_topic) == len(kts)
    assert set(by_topic) == {topics.full(t, topics.DEFAULT_PREFIX) for t in topics.ALL_TOPICS}
    for name, (partitions, retention) in topic_table.items():
        kt = by_topic[topics.full(name, topics.DEFAULT_PREFIX)]
        assert kt["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert kt["metadata"]["labels"]["strimzi.io/cluster"] == "interventions"
        assert kt["spec"]["partitions"] == partitions, name
        assert kt["spec"]["config"]["retention.ms"] == retention, name
        assert kt["spec"]["config"]["cleanup.policy"] == "delete", name
        assert 1 <= kt["spec"]["config"]["min.insync.replicas"] <= kt["spec"]["replicas"]


@pytest.mark.parametrize("tree", OVERLAYS)
def test_overlays_run_the_kafka_cluster_the_topics_and_services_name(
    tree: str, rendered: Rendered
) -> None:
    kafka = of_kind(rendered[tree], "Kafka")["interventions"]
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    listeners = {(x["name"], x["port"]) for x in kafka["spec"]["kafka"]["listeners"]}
    assert ("plain", 9092) in listeners
    pool = next(iter(of_kind(rendered[tree], "KafkaNodePool").values()))
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "interventions"
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    for kt in of_kind(rendered[tree], "KafkaTopic").values():
        assert kt["spec"]["replicas"] <= pool["spec"]["replicas"]
    env = env_config(rendered[tree])
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "interventions-kafka-bootstrap:9092"


def env_config(docs: list[Doc]) -> dict[str, str]:
    maps = of_kind(docs, "ConfigMap")
    return dict(next(m["data"] for n, m in maps.items() if n.startswith("interventions-env")))


def database_refs(docs: list[Doc]) -> set[tuple[str, str]]:
    refs = set()
    for d in of_kind(docs, "Deployment").values():
        env = {e["name"]: e for e in container(d)["env"]}
        ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        refs.add((ref["name"], ref["key"]))
    return refs


def test_prod_reads_database_url_from_the_cloudnativepg_cluster_secret(
    rendered: Rendered,
) -> None:
    clusters = of_kind(rendered["prod"], "Cluster")
    assert list(clusters) == ["interventions-pg"]
    pg = clusters["interventions-pg"]
    assert pg["apiVersion"] == "postgresql.cnpg.io/v1"
    assert pg["spec"]["instances"] >= 3 and pg["spec"]["storage"]["size"]
    assert pg["spec"]["bootstrap"]["initdb"]["database"] == "interventions"
    # CloudNativePG names the application secret <cluster>-app and keeps the URI under `uri`
    assert database_refs(rendered["prod"]) == {("interventions-pg-app", "uri")}


def test_dev_reads_database_url_from_an_external_secret(rendered: Rendered) -> None:
    assert "Cluster" not in {d["kind"] for d in rendered["dev"]}
    assert database_refs(rendered["dev"]) == {("interventions-database", "url")}


@pytest.mark.parametrize("tree", ALL)
def test_no_secret_values_are_committed(tree: str, rendered: Rendered) -> None:
    assert "Secret" not in {d["kind"] for d in rendered[tree]}
    for m in of_kind(rendered[tree], "ConfigMap").values():
        for key in m["data"]:
            assert not any(s in key for s in ("TOKEN", "PASSWORD", "ROUTING_KEY")), key


@pytest.mark.parametrize("tree", ALL)
def test_settings_yaml_comes_from_a_configmap_equal_to_the_example(
    tree: str, rendered: Rendered
) -> None:
    maps = of_kind(rendered[tree], "ConfigMap")
    example = (ROOT / "deploy" / "settings.example.yaml").read_text()
    for d in of_kind(rendered[tree], "Deployment").values():
        spec = d["spec"]["template"]["spec"]
        vol = next(v for v in spec["volumes"] if v["name"] == "config")
        assert maps[vol["configMap"]["name"]]["data"] == {"settings.yaml": example}
        mount = next(m for m in container(d)["volumeMounts"] if m["name"] == "config")
        assert mount["mountPath"] == "/etc/interventions"
        env_ref = container(d)["envFrom"][0]["configMapRef"]["name"]
        assert env_ref in maps
    assert env_config(rendered[tree])["INTERVENTIONS_CONFIG"] == "/etc/interventions/settings.yaml"


@pytest.mark.parametrize("tree", ALL)
def test_the_gateway_finds_each_service_by_its_kubernetes_service(
    tree: str, rendered: Rendered, services: list[tuple[str, str, int]]
) -> None:
    env, svcs = env_config(rendered[tree]), of_kind(rendered[tree], "Service")
    assert env["INTERVENTIONS_BIND_HOST"] == "0.0.0.0"
    for name, _, port in services:
        if name != "gateway":
            assert env[f"INTERVENTIONS_{name.upper().replace('-', '_')}_URL"] == (
                f"http://{name}:{port}"
            )
            assert svcs[name]["spec"]["ports"][0]["port"] == port


@pytest.mark.parametrize(
    ("tree", "namespace"), [("dev", "interventions-dev"), ("prod", "interventions")]
)
def test_overlays_put_everything_in_their_namespace(
    tree: str, namespace: str, rendered: Rendered
) -> None:
    assert namespace in of_kind(rendered[tree], "Namespace")
    for d in rendered[tree]:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == namespace, d["metadata"]["name"]


@pytest.mark.parametrize("tree", ALL)
def test_every_service_waits_for_the_topics_with_its_own_image(
    tree: str, rendered: Rendered
) -> None:
    maps = of_kind(rendered[tree], "ConfigMap")
    script = (ROOT / "deploy" / "k8s" / "base" / "wait_for_topics.py").read_text()
    for name, d in of_kind(rendered[tree], "Deployment").items():
        spec = d["spec"]["template"]["spec"]
        (init,) = spec["initContainers"]
        assert init["image"] == container(d)["image"], name
        assert init["command"] == ["python", "/opt/interventions/wait_for_topics.py"], name
        vol = next(v for v in spec["volumes"] if v["name"] == "scripts")
        assert maps[vol["configMap"]["name"]]["data"] == {"wait_for_topics.py": script}
        assert init["envFrom"][0]["configMapRef"]["name"] in maps
