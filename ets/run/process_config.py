"""From the options of ``ets node`` and ``ets coordinator`` to the configuration each process runs with.

A file not given explicitly is taken from the run directory's layout (``--run-dir``), so ``ets run`` names
only the run directory while a container names each file where its volume, ConfigMap or secret put it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chain.errors import InputError
from chain.genesis import Genesis
from ets.run.layout import RunLayout
from runtime import envvars
from runtime.params import Params

if TYPE_CHECKING:  # each process imports only its own service (the coordinator's pulls in the solver)
    from coordinator.service import CoordinatorConfig
    from node.service import NodeConfig

_ORDINAL = re.compile(r"^(?:.*-)?(\d+)$")


@dataclass(frozen=True, slots=True)
class Files:
    """The files a process is told about explicitly; None: from the run directory."""

    run_dir: Path | None = None
    genesis: Path | None = None
    params: Path | None = None
    key: Path | None = None
    ledger: Path | None = None

    def layout(self, option: str, variable: str) -> RunLayout:
        if self.run_dir is None:
            raise InputError(f"give {option} ({variable}) or --run-dir ({envvars.RUN_DIR})")
        return RunLayout(self.run_dir)

    def genesis_path(self) -> Path:
        return self.genesis or self.layout("--genesis", envvars.GENESIS).genesis

    def params_path(self) -> Path:
        return self.params or self.layout("--params", envvars.PARAMS).params

    def key_path(self, name: str) -> Path:
        return self.key or self.layout("--key", envvars.KEY).key(name)

    def ledger_path(self, name: str) -> Path:
        return self.ledger or self.layout("--ledger", envvars.LEDGER).ledger(name)


def household_index(value: str) -> int:
    """A household's position in genesis: ``3``, or a name ending in ``-3`` (a StatefulSet pod's name,
    ``households-3``), both meaning the fourth household."""
    match = _ORDINAL.match(value.strip())
    if match is None:
        raise InputError(f"household index {value!r}: expected a number or a name ending in -<number>")
    return int(match.group(1))


def household_of(genesis: Genesis, household: str | None, index: str | None) -> str:
    """The household id given, or the one at ``index`` in genesis."""
    if household is not None and index is not None:
        raise InputError(f"give the household ({envvars.HOUSEHOLD}) or its index ({envvars.HOUSEHOLD_INDEX}), not both")
    if household is not None:
        return household
    if index is None:
        raise InputError(f"give --household ({envvars.HOUSEHOLD}) or --household-index ({envvars.HOUSEHOLD_INDEX})")
    position = household_index(index)
    ids = genesis.household_ids
    if position >= len(ids):
        raise InputError(f"household index {position}: genesis has {len(ids)} households (0 to {len(ids) - 1})")
    return ids[position]


@dataclass(frozen=True, slots=True)
class NodeOptions:
    household: str | None
    household_index: str | None
    router: str
    pub: str
    gossip_bind: str
    gossip_advertise: str | None = None
    sync_bind: str = "tcp://127.0.0.1:*"
    sync_advertise: str | None = None
    secure: bool | None = None
    """None: on unless every address is loopback."""
    meter: Path | None = None
    data: Path | None = None
    heartbeat: Path | None = None
    exit_with_parent: bool = False


def node_config(files: Files, options: NodeOptions) -> NodeConfig:
    """The node's configuration; the data file defaults to the one the parameters name."""
    from node.service import NodeConfig

    genesis_path = files.genesis_path()
    hid = household_of(Genesis.load(genesis_path), options.household, options.household_index)
    params_path = files.params_path()
    data = options.data or Path(Params.load(params_path).household.data_file)
    return NodeConfig(
        household=hid,
        genesis=genesis_path,
        key=files.key_path(hid),
        params=params_path,
        data=data,
        ledger=files.ledger_path(hid),
        coordinator_router=options.router,
        coordinator_pub=options.pub,
        gossip_bind=options.gossip_bind,
        gossip_advertise=options.gossip_advertise,
        sync_bind=options.sync_bind,
        sync_advertise=options.sync_advertise,
        secure=_secure(options.secure, [options.router, options.pub, options.gossip_bind, options.sync_bind]),
        meter=options.meter or (RunLayout(files.run_dir).meter(hid) if files.run_dir is not None else None),
        heartbeat=options.heartbeat,
        exit_with_parent=options.exit_with_parent,
    )


@dataclass(frozen=True, slots=True)
class CoordinatorOptions:
    router_bind: str
    pub_bind: str
    endpoints_file: Path | None = None
    metrics_file: Path | None = None
    secure: bool | None = None
    """None: on unless every address is loopback."""
    heartbeat: Path | None = None
    exit_with_parent: bool = False


def _secure(asked: bool | None, endpoints: list[str]) -> bool:
    from runtime.curve import secure_by_default

    return secure_by_default(endpoints) if asked is None else asked


def coordinator_config(files: Files, options: CoordinatorOptions) -> CoordinatorConfig:
    """The coordinator's configuration; endpoints and metrics files default to the run directory's."""
    from coordinator.service import CoordinatorConfig

    layout = RunLayout(files.run_dir) if files.run_dir is not None else None
    return CoordinatorConfig(
        genesis=files.genesis_path(),
        key=files.key_path("coordinator"),
        params=files.params_path(),
        ledger=files.ledger_path("coordinator"),
        router_bind=options.router_bind,
        pub_bind=options.pub_bind,
        endpoints_file=options.endpoints_file or (layout.endpoints if layout else None),
        metrics_file=options.metrics_file or (layout.metrics if layout else None),
        secure=_secure(options.secure, [options.router_bind, options.pub_bind]),
        heartbeat=options.heartbeat,
        exit_with_parent=options.exit_with_parent,
    )
