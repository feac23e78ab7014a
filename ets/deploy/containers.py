"""What each container runs: the exact arguments and environment of the coordinator and of a household node.

The Compose file and the Kubernetes manifests are built from these two functions, and tests start the same
processes on hosts of their own with them, so that what is tested is what the containers run. Arguments
follow the image's entry point (``ets``); every setting travels in an ``ETS_*`` variable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chain.errors import InputError
from runtime import envvars

IMAGE = "energy-trading-network:latest"
APP_DIR = "/app"
"""Where the image holds the project."""
DATA_DIR = "household_dbs"
"""The project's data folder, which the image carries: data files for containers go there."""
USER_ID = 10001
"""The image's non-root user (and group)."""

ROUTER_PORT = 5555
PUB_PORT = 5556
GOSSIP_PORT = 5557
SYNC_PORT = 5558
"""Where a node serves catch-up requests from its peers."""

HOUSEHOLD_LEDGER = "household.ledger"
COORDINATOR_LEDGER = "coordinator.ledger"


@dataclass(frozen=True, slots=True)
class Mounts:
    """Where a container finds its files."""

    config: str = "/etc/ets"
    """Directory of the run's public files, genesis.json and params.json (read-only)."""
    data: str = "/data"
    """The container's own volume: ledger, heartbeat, endpoints and metrics."""
    key: str = "/run/secrets/ets.key"
    """Its private key."""

    @property
    def genesis(self) -> str:
        return f"{self.config}/genesis.json"

    @property
    def params(self) -> str:
        return f"{self.config}/params.json"

    def on_volume(self, name: str) -> str:
        return f"{self.data}/{name}"


@dataclass(frozen=True, slots=True)
class Container:
    argv: tuple[str, ...]
    """Arguments after the entry point ``ets``."""
    env: dict[str, str] = field(default_factory=dict)


def _files(mounts: Mounts, ledger: str) -> dict[str, str]:
    return {
        envvars.GENESIS: mounts.genesis,
        envvars.PARAMS: mounts.params,
        envvars.KEY: mounts.key,
        envvars.LEDGER: mounts.on_volume(ledger),
        envvars.HEARTBEAT: mounts.on_volume("heartbeat.json"),
    }


def _security(secure: bool) -> dict[str, str]:
    """CurveZMQ on every socket, as multi-host runs need."""
    return {envvars.SECURE: "1"} if secure else {}


def coordinator_container(mounts: Mounts | None = None, bind_host: str = "*", secure: bool = True) -> Container:
    """The coordinator, listening on ``bind_host`` (every interface in a container)."""
    m = mounts or Mounts()
    env = _files(m, COORDINATOR_LEDGER) | {
        envvars.ROUTER_BIND: f"tcp://{bind_host}:{ROUTER_PORT}",
        envvars.PUB_BIND: f"tcp://{bind_host}:{PUB_PORT}",
        envvars.ENDPOINTS_FILE: m.on_volume("coordinator_endpoints.json"),
        envvars.METRICS_FILE: m.on_volume("network_metrics.csv"),
    }
    return Container(("coordinator",), env | _security(secure))


def node_container(
    index: str,
    *,
    host: str,
    coordinator_host: str,
    data_file: str,
    mounts: Mounts | None = None,
    bind_host: str = "*",
    secure: bool = True,
) -> Container:
    """The node of the household at ``index`` in genesis (a number, or a pod name ending in ``-N``), reached
    by its peers at ``host`` and reaching the coordinator at ``coordinator_host``."""
    m = mounts or Mounts()
    env = _files(m, HOUSEHOLD_LEDGER) | {
        envvars.DATA: data_file,
        envvars.HOUSEHOLD_INDEX: index,
        envvars.COORDINATOR_ROUTER: f"tcp://{coordinator_host}:{ROUTER_PORT}",
        envvars.COORDINATOR_PUB: f"tcp://{coordinator_host}:{PUB_PORT}",
        envvars.GOSSIP_BIND: f"tcp://{bind_host}:{GOSSIP_PORT}",
        envvars.GOSSIP_ADVERTISE: f"tcp://{host}:{GOSSIP_PORT}",
        envvars.SYNC_BIND: f"tcp://{bind_host}:{SYNC_PORT}",
        envvars.SYNC_ADVERTISE: f"tcp://{host}:{SYNC_PORT}",
    }
    return Container(("node",), env | _security(secure))


def image_path(path: Path, project_root: Path) -> str:
    """Where the image holds the data file ``path``: the image carries the project's ``household_dbs/``."""
    data_dir = project_root.resolve() / DATA_DIR
    try:
        relative = path.resolve().relative_to(data_dir)
    except ValueError:
        raise InputError(f"{path}: not in the image; put it in {data_dir} and build the image again") from None
    return f"{APP_DIR}/{DATA_DIR}/{relative.as_posix()}"
