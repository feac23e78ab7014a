"""The Kubernetes manifests: the coordinator as a Deployment behind a Service, the households as a StatefulSet.

Each household pod's ordinal picks its household: the pod's name (``households-3``) is its
``ETS_HOUSEHOLD_INDEX``, so pod 3 is the fourth household of genesis, and ``households-3.households`` (the
headless Service) is where its peers reach it. Every pod gets a PersistentVolumeClaim of its own for its
ledger and key: an init container copies the pod's own key from the ``ets-household-keys`` Secret onto the
claim the first time, and only that container mounts the Secret. genesis.json and params.json come from
the ``ets-run`` ConfigMap; the coordinator's key from the ``ets-coordinator-key`` Secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ets.deploy import containers
from ets.deploy.containers import Container, Mounts
from ets.deploy.provision import COORDINATOR_KEY_FILE, HOUSEHOLD_KEYS_DIR
from ets.deploy.yamlfile import dump

NAMESPACE = "ets"
APP = "energy-trading-network"
RUN_CONFIGMAP = "ets-run"
COORDINATOR_KEY_SECRET = "ets-coordinator-key"
HOUSEHOLD_KEYS_SECRET = "ets-household-keys"
HOUSEHOLDS = "households"
COORDINATOR = "coordinator"
POD_NAME = "POD_NAME"
KEY_MODE = 0o440
"""Secret files readable by the pod's group (its fsGroup is the image's user)."""
VOLUME_SIZE = "1Gi"

COORDINATOR_MOUNTS = Mounts(key="/run/secrets/ets/coordinator.key")
HOUSEHOLD_MOUNTS = Mounts(key="/data/household.key")
INSTALL_KEY = (
    '[ -s /data/household.key ] || { cp "/keys/household-${POD_NAME##*-}.key" /data/household.key'
    " && chmod 0400 /data/household.key; }"
)


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}


def _meta(name: str, component: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if component is not None:
        meta["labels"] = labels(component)
    return meta


def _pod_name() -> dict[str, Any]:
    return {"name": POD_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}


def _probe(period_s: int, failures: int) -> dict[str, Any]:
    return {"exec": {"command": ["ets", "health"]}, "periodSeconds": period_s, "failureThreshold": failures}


def _container(
    name: str, c: Container, image: str, ports: dict[str, int], mounts: list[dict[str, Any]], pod_name: bool = False
) -> dict[str, Any]:
    """``pod_name``: the pod's name as ``POD_NAME``, first, so that later values can refer to it."""
    env = [_pod_name()] if pod_name else []
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": list(c.argv),
        "env": env + [{"name": k, "value": v} for k, v in c.env.items()],
        "ports": [{"name": p, "containerPort": n} for p, n in ports.items()],
        "volumeMounts": mounts,
        "startupProbe": _probe(5, 24),
        "livenessProbe": _probe(15, 4),
    }


def _pod_security() -> dict[str, Any]:
    uid = containers.USER_ID
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}


def _mount(name: str, path: str, read_only: bool = False) -> dict[str, Any]:
    return {"name": name, "mountPath": path, "readOnly": True} if read_only else {"name": name, "mountPath": path}


def namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


def coordinator_objects(image: str = containers.IMAGE) -> list[dict[str, Any]]:
    """A claim for its ledger, the Deployment (one replica, replaced not rolled) and its Service."""
    m = COORDINATOR_MOUNTS
    ports = {"router": containers.ROUTER_PORT, "pub": containers.PUB_PORT}
    mounts = [_mount("data", m.data), _mount("run", m.config, True), _mount("key", m.key.rsplit("/", 1)[0], True)]
    container = _container(COORDINATOR, containers.coordinator_container(m), image, ports, mounts)
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta("coordinator-data", COORDINATOR),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": VOLUME_SIZE}}},
    }
    volumes = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "coordinator-data"}},
        {"name": "run", "configMap": {"name": RUN_CONFIGMAP}},
        {"name": "key", "secret": {"secretName": COORDINATOR_KEY_SECRET, "defaultMode": KEY_MODE}},
    ]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(COORDINATOR, COORDINATOR),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels(COORDINATOR)},
            "template": {
                "metadata": {"labels": labels(COORDINATOR)},
                "spec": {"securityContext": _pod_security(), "containers": [container], "volumes": volumes},
            },
        },
    }
    service_ports = [{"name": p, "port": n, "targetPort": p} for p, n in ports.items()]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(COORDINATOR, COORDINATOR),
        "spec": {"selector": labels(COORDINATOR), "ports": service_ports},
    }
    return [claim, deployment, service]


def household_objects(households: int, data_file: str, image: str = containers.IMAGE) -> list[dict[str, Any]]:
    """The headless Service that names each pod, and the StatefulSet of ``households`` pods."""
    m = HOUSEHOLD_MOUNTS
    node = containers.node_container(
        f"$({POD_NAME})",
        host=f"$({POD_NAME}).{HOUSEHOLDS}",
        coordinator_host=COORDINATOR,
        data_file=data_file,
        mounts=m,
    )
    ports = {"gossip": containers.GOSSIP_PORT, "sync": containers.SYNC_PORT}
    mounts = [_mount("data", m.data), _mount("run", m.config, True)]
    container = _container("node", node, image, ports, mounts, pod_name=True)
    install_key = {
        "name": "install-key",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", INSTALL_KEY],
        "env": [_pod_name()],
        "volumeMounts": [_mount("data", m.data), _mount("keys", "/keys", True)],
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(HOUSEHOLDS, "household"),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": labels("household"),
            "ports": [
                {"name": "gossip", "port": containers.GOSSIP_PORT, "targetPort": "gossip"},
                {"name": "sync", "port": containers.SYNC_PORT, "targetPort": "sync"},
            ],
        },
    }
    pod = {
        "securityContext": _pod_security(),
        "initContainers": [install_key],
        "containers": [container],
        "volumes": [
            {"name": "run", "configMap": {"name": RUN_CONFIGMAP}},
            {"name": "keys", "secret": {"secretName": HOUSEHOLD_KEYS_SECRET, "defaultMode": KEY_MODE}},
        ],
    }
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": VOLUME_SIZE}}},
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(HOUSEHOLDS, "household"),
        "spec": {
            "serviceName": HOUSEHOLDS,
            "replicas": households,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels("household")},
            "template": {"metadata": {"labels": labels("household")}, "spec": pod},
            "volumeClaimTemplates": [claim],
        },
    }
    return [service, statefulset]


def manifests(households: int, data_file: str, image: str = containers.IMAGE) -> dict[str, str]:
    """File name -> text of each manifest file."""
    command = f"`ets docker k8s --households {households}`"
    header = f"Written by {command}: write it again rather than edit it. See docker/README.md."
    return {
        "namespace.yaml": dump([namespace()], header),
        "coordinator.yaml": dump(coordinator_objects(image), header),
        "households.yaml": dump(household_objects(households, data_file, image), header),
    }


def kubectl_commands(run_dir: Path) -> list[str]:
    """The ConfigMap and Secrets the manifests expect, made from a run directory of ``ets docker setup``."""
    create = f"kubectl --namespace {NAMESPACE} create"
    public = f"--from-file={run_dir / 'genesis.json'} --from-file={run_dir / 'params.json'}"
    return [
        f"{create} configmap {RUN_CONFIGMAP} {public}",
        f"{create} secret generic {COORDINATOR_KEY_SECRET} --from-file={run_dir / COORDINATOR_KEY_FILE}",
        f"{create} secret generic {HOUSEHOLD_KEYS_SECRET} --from-file={run_dir / HOUSEHOLD_KEYS_DIR}",
    ]
