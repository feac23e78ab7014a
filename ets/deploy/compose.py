"""The Compose file: the coordinator and one service per household, each with its own volume and key.

Paths are relative to the Compose file: the run directory ``ets docker setup`` prepares lies beside it in
``run/``. Every service shares genesis.json and params.json (read-only); each gets only its own private key,
as a Compose secret; its ledger and heartbeat live on its own named volume.
"""

from __future__ import annotations

from typing import Any

from ets.deploy import containers
from ets.deploy.containers import Container, Mounts
from ets.deploy.provision import COORDINATOR_KEY_FILE, household_key_file
from ets.deploy.yamlfile import dump

RUN_DIR = "./run"
RESTART = "on-failure"
"""A process that fails is started again and resumes from its ledger; one that finished stays down."""


def household_service(index: int) -> str:
    return f"household-{index}"


def _service(name: str, container: Container, secret: str, image: str) -> dict[str, Any]:
    mounts = Mounts()
    build = {"build": {"context": "..", "dockerfile": "docker/Dockerfile"}} if name == "coordinator" else {}
    return {
        "image": image,
        **build,
        "command": list(container.argv),
        "environment": dict(container.env),
        "volumes": [
            f"{name}-data:{mounts.data}",
            f"{RUN_DIR}/genesis.json:{mounts.genesis}:ro",
            f"{RUN_DIR}/params.json:{mounts.params}:ro",
        ],
        "secrets": [{"source": secret, "target": mounts.key.rsplit("/", 1)[1]}],
        "restart": RESTART,
    }


def compose(households: int, data_file: str, image: str = containers.IMAGE) -> dict[str, Any]:
    """The Compose file as a dict; ``data_file`` is the data's path inside the image."""
    coordinator = _service("coordinator", containers.coordinator_container(), "coordinator-key", image)
    services: dict[str, Any] = {"coordinator": coordinator}
    secrets: dict[str, Any] = {"coordinator-key": {"file": f"{RUN_DIR}/{COORDINATOR_KEY_FILE}"}}
    for i in range(households):
        name = household_service(i)
        node = containers.node_container(str(i), host=name, coordinator_host="coordinator", data_file=data_file)
        services[name] = _service(name, node, f"{name}-key", image) | {"depends_on": ["coordinator"]}
        secrets[f"{name}-key"] = {"file": f"{RUN_DIR}/{household_key_file(i)}"}
    volumes: dict[str, Any] = {f"{name}-data": {} for name in services}
    return {"services": services, "volumes": volumes, "secrets": secrets}


def compose_text(households: int, data_file: str, image: str = containers.IMAGE) -> str:
    header = (
        f"Written by `ets docker compose --households {households}`: write it again rather than edit it.\n"
        f"It needs the run directory beside it: `ets docker setup --households {households}` (docker/README.md)."
    )
    return dump([compose(households, data_file, image)], header)
