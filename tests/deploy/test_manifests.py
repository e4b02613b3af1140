"""deploy/k8s, deploy/compose and deploy/Dockerfile, checked statically (no cluster, no Docker
engine here): they parse, and they carry the settings, names and paths the processor needs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.settings import Settings, declared

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
COMPOSE = REPO / "deploy" / "compose"
SETTINGS = {d.env for d in declared()}
WEB = (REPO / "processor/runtime/web.py").read_text()
PAGES = set(re.findall(r'@app\.page\("([^"{]+)"\)', WEB))


def k8s() -> dict[tuple[str, str], dict[str, Any]]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def env_names(text: str) -> set[str]:
    return set(re.findall(r"\b(CARRIERWATCH_[A-Z_]+)\b", text))


def worker_container() -> dict[str, Any]:
    sts = k8s()[("StatefulSet", "carrierwatch")]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    return container


def test_every_carrierwatch_variable_is_a_real_setting() -> None:
    files = [*K8S.glob("*.yaml"), COMPOSE / "compose.yaml", REPO / "deploy" / "Dockerfile"]
    for path in files:
        unknown = env_names(path.read_text()) - SETTINGS
        assert not unknown, f"{path.name}: {sorted(unknown)} are not settings"


def test_kustomization_lists_the_manifests() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kust["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml",
                                                      "servicemonitor.yaml",
                                                      "secret.example.yaml"}
    assert listed == on_disk
    assert {i["name"] for i in kust["images"]} == {worker_container()["image"]}


def test_statefulset_gives_each_worker_its_own_state_volume_and_address() -> None:
    docs = k8s()
    sts = docs[("StatefulSet", "carrierwatch")]["spec"]
    container = worker_container()
    env = {e["name"]: e.get("value") for e in container["env"]}
    (claim,) = sts["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == env["CARRIERWATCH_DATA_DIR"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    headless = docs[("Service", sts["serviceName"])]["spec"]
    assert headless["clusterIP"] == "None"
    assert sts["selector"]["matchLabels"].items() <= sts["template"]["metadata"]["labels"].items()
    assert headless["selector"].items() <= sts["template"]["metadata"]["labels"].items()
    assert f"$(POD_NAME).{sts['serviceName']}:" in env["CARRIERWATCH_ADVERTISED_URL"]
    assert env["CARRIERWATCH_WEB_BIND"] == "0.0.0.0"
    assert sts["template"]["spec"]["terminationGracePeriodSeconds"] >= 60


def test_ports_probes_and_scraping_agree() -> None:
    docs = k8s()
    config = docs[("ConfigMap", "carrierwatch")]["data"]
    port = int(config["CARRIERWATCH_WEB_PORT"])
    container = worker_container()
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": port}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in PAGES
    template = docs[("StatefulSet", "carrierwatch")]["spec"]["template"]["metadata"]
    assert template["annotations"]["prometheus.io/port"] == str(port)
    assert template["annotations"]["prometheus.io/path"] in PAGES
    monitor = docs[("ServiceMonitor", "carrierwatch")]["spec"]
    service = docs[("Service", "carrierwatch-workers")]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_credentials_come_from_the_secret_not_the_configmap() -> None:
    docs = k8s()
    secret = docs[("Secret", "carrierwatch-secrets")]["stringData"]
    assert {"CARRIERWATCH_SASL_PASSWORD", "CARRIERWATCH_API_TOKEN"} <= set(secret)
    config = docs[("ConfigMap", "carrierwatch")]["data"]
    assert not {"CARRIERWATCH_SASL_PASSWORD", "CARRIERWATCH_API_TOKEN"} & set(config)
    refs = [r["secretRef"]["name"] for r in worker_container()["envFrom"] if "secretRef" in r]
    assert refs == ["carrierwatch-secrets"]


def test_topic_job_creates_the_topics_with_the_workers_settings() -> None:
    docs = k8s()
    job = docs[("Job", "carrierwatch-topics")]["spec"]["template"]["spec"]
    (container,) = job["containers"]
    assert container["args"] == ["topics", "create"]
    assert container["envFrom"] == worker_container()["envFrom"]
    assert container["image"] == worker_container()["image"]


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    return doc


def test_compose_runs_kafka_topics_worker_collector_prometheus_grafana() -> None:
    services = compose()["services"]
    nodes = ("kafka-1", "kafka-2", "kafka-3")
    assert set(services) == {*nodes, "topics", "worker", "hep-collector", "prometheus",
                             "grafana"}
    assert services["topics"]["command"] == ["topics", "create"]
    assert set(services["topics"]["depends_on"]) == set(nodes)
    assert services["worker"]["depends_on"]["topics"]["condition"] == \
        "service_completed_successfully"
    env = services["worker"]["environment"]
    # Issue 33: a 3-broker cluster, every node in the bootstrap list, 3 replicas, 2 in sync.
    assert Settings(broker=env["CARRIERWATCH_BROKER"]).bootstrap_servers == \
        "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert env["CARRIERWATCH_REPLICATION"] == "3"
    kafka = [services[n]["environment"] for n in nodes]
    assert [k["KAFKA_NODE_ID"] for k in kafka] == ["1", "2", "3"]
    assert [k["KAFKA_ADVERTISED_LISTENERS"] for k in kafka] == [
        f"PLAINTEXT://{n}:9092" for n in nodes]
    assert {k["KAFKA_CONTROLLER_QUORUM_VOTERS"] for k in kafka} == {
        "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert len({k["CLUSTER_ID"] for k in kafka}) == 1
    assert all((k["KAFKA_MIN_INSYNC_REPLICAS"], k["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"])
               == ("2", "3") for k in kafka)
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE / source).exists(), f"{name}: {source} does not exist"
    build = services["topics"]["build"]
    assert (COMPOSE / build["context"] / build["dockerfile"]).is_file()


def test_compose_prometheus_scrapes_the_worker() -> None:
    prom = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    port = compose()["services"]["worker"]["environment"]["CARRIERWATCH_WEB_PORT"]
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == [f"worker:{port}"]


def test_compose_prometheus_config_is_valid() -> None:
    """promtool checks it with the rules mounted where compose mounts them."""
    rules = REPO / "deploy" / "prometheus" / "rules"
    if not rules.is_dir():
        pytest.fail("deploy/prometheus/rules is missing")
    result = subprocess.run(["promtool", "check", "config", "--syntax-only",
                             str(COMPOSE / "prometheus.yml")], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_ships_the_topic_declarations_and_runs_carrierwatch() -> None:
    text = (REPO / "deploy" / "Dockerfile").read_text()
    assert "COPY topics ./topics" in text
    assert "pip install --no-cache-dir -e ." in text
    assert 'ENTRYPOINT ["carrierwatch"]' in text
    assert "FROM python:3.11" in text


def test_the_hep_collector_receives_udp_and_tcp_and_is_scraped() -> None:
    docs = k8s()
    pod = docs[("Deployment", "carrierwatch-hep")]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["ingest", "hep"]
    env = {e["name"]: e["value"] for e in container["env"]}
    port = int(env["CARRIERWATCH_HEP_LISTEN"].rsplit(":", 1)[1])
    ports = {(p["containerPort"], p.get("protocol", "TCP")) for p in container["ports"]}
    assert {(port, "UDP"), (port, "TCP")} <= ports
    metrics = int(env["CARRIERWATCH_HEP_METRICS_PORT"])
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(metrics)
    service = docs[("Service", "carrierwatch-hep")]["spec"]
    assert {(p["port"], p.get("protocol", "TCP")) for p in service["ports"]} >= {
        (port, "UDP"), (port, "TCP")}
    collector = compose()["services"]["hep-collector"]
    assert collector["command"] == ["ingest", "hep"]
    assert f"{port}:{port}/udp" in collector["ports"]


def test_the_workers_point_at_a_three_broker_cluster() -> None:
    """Issue 33: the configmap lists three brokers (a worker starts with any one down) and
    asks for 3 replicas."""
    config = k8s()[("ConfigMap", "carrierwatch")]["data"]
    brokers = Settings(broker=config["CARRIERWATCH_BROKER"]).bootstrap_servers.split(",")
    assert len(brokers) == 3
    assert len(set(brokers)) == 3
    assert config["CARRIERWATCH_REPLICATION"] == "3"
