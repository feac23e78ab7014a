"""``ets node``, ``ets coordinator`` and ``ets health``: the processes of a cluster, each configured by its
options or the environment, and a container's health check."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ets.cli.common import fail_cleanly
from runtime import envvars


def _setup_logging(name: str) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format=f"%(asctime)s {name} %(levelname)s %(message)s", force=True
    )


SECURE_HELP = "CurveZMQ with an allow-list of the genesis keys (default: on unless every address is loopback)."


def _env_option(*names: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An option that can also be set from the environment, which --help shows."""
    return click.option(*names, show_envvar=True, **kwargs)


def _file_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The files a process reads and writes: each given on its own, or taken from a run directory."""
    existing = click.Path(path_type=Path, exists=True, dir_okay=False)
    for option in reversed(
        [
            _env_option(
                "--run-dir",
                type=click.Path(path_type=Path, exists=True, file_okay=False),
                envvar=envvars.RUN_DIR,
                help="A prepared run directory: every file below not given is taken from it.",
            ),
            _env_option("--genesis", type=existing, envvar=envvars.GENESIS, help="genesis.json of the run."),
            _env_option(
                "--params", "params_file", type=existing, envvar=envvars.PARAMS, help="params.json of the run."
            ),
            _env_option("--key", type=existing, envvar=envvars.KEY, help="This process's private key."),
            _env_option(
                "--ledger",
                type=click.Path(path_type=Path, dir_okay=False),
                envvar=envvars.LEDGER,
                help="This process's ledger (created if missing, resumed if present).",
            ),
            _env_option(
                "--heartbeat",
                type=click.Path(path_type=Path, dir_okay=False),
                envvar=envvars.HEARTBEAT,
                help="A file rewritten every few seconds while the process is alive, for `ets health`.",
            ),
            _env_option(
                "--exit-with-parent",
                is_flag=True,
                envvar=envvars.EXIT_WITH_PARENT,
                help="Leave when the launching process is gone.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _leave_with_parent(exit_with_parent: bool) -> None:
    """With ``--exit-with-parent``: SIGTERM from the kernel the moment the launcher ends (Linux), asked for
    before anything else, so a launcher killed during the start leaves nothing behind (``runtime.parent``)."""
    if exit_with_parent:
        from runtime.parent import signal_when_parent_dies

        signal_when_parent_dies()


def _files(
    run_dir: Path | None, genesis: Path | None, params_file: Path | None, key: Path | None, ledger: Path | None
) -> Any:
    from ets.run.process_config import Files

    return Files(run_dir, genesis, params_file, key, ledger)


@click.command(context_settings={"show_default": True})
@_file_options
@_env_option("--household", envvar=envvars.HOUSEHOLD, help="This node's household id.")
@_env_option(
    "--household-index",
    envvar=envvars.HOUSEHOLD_INDEX,
    help="Instead of --household: the household's position in genesis (0 = first), or a name ending in -N "
    "(a StatefulSet pod's name, households-3) for position N.",
)
@_env_option(
    "--coordinator-router",
    "--router",
    "router",
    envvar=envvars.COORDINATOR_ROUTER,
    required=True,
    help="Coordinator's ROUTER endpoint, e.g. tcp://coordinator:5555.",
)
@_env_option(
    "--coordinator-pub",
    "--pub",
    "pub",
    envvar=envvars.COORDINATOR_PUB,
    required=True,
    help="Coordinator's PUB endpoint, e.g. tcp://coordinator:5556.",
)
@_env_option(
    "--gossip-bind", envvar=envvars.GOSSIP_BIND, default="tcp://127.0.0.1:*", help="Where this node publishes."
)
@_env_option(
    "--gossip-advertise",
    envvar=envvars.GOSSIP_ADVERTISE,
    help="The endpoint peers are told to connect to (default: the one bound; set it when binding a wildcard).",
)
@_env_option(
    "--sync-bind", envvar=envvars.SYNC_BIND, default="tcp://127.0.0.1:*", help="Where peers ask it for blocks."
)
@_env_option(
    "--sync-advertise",
    envvar=envvars.SYNC_ADVERTISE,
    help="The catch-up endpoint peers are told (default: the one bound; set it when binding a wildcard).",
)
@_env_option("--secure/--no-secure", envvar=envvars.SECURE, default=None, help=SECURE_HELP)
@_env_option(
    "--meter",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=envvars.METER,
    help="This household's meter file (default: the run directory's meters/<household>.npz, else --data).",
)
@_env_option(
    "--data",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    envvar=envvars.DATA,
    help="Household data file (default: the one the parameters name).",
)
@fail_cleanly
def node(
    household: str | None,
    household_index: str | None,
    router: str,
    pub: str,
    gossip_bind: str,
    gossip_advertise: str | None,
    sync_bind: str,
    sync_advertise: str | None,
    secure: bool | None,
    meter: Path | None,
    data: Path | None,
    heartbeat: Path | None,
    exit_with_parent: bool,
    **files: Any,
) -> None:
    """Run one household node. Every option can be set from the environment (ETS_ + its name)."""
    _leave_with_parent(exit_with_parent)
    from ets.run.process_config import NodeOptions, node_config
    from node.service import run_node

    options = NodeOptions(
        household,
        household_index,
        router,
        pub,
        gossip_bind,
        gossip_advertise,
        sync_bind,
        sync_advertise,
        secure,
        meter,
        data,
        heartbeat,
        exit_with_parent,
    )
    config = node_config(_files(**files), options)
    _setup_logging(config.household)
    sys.exit(run_node(config))


@click.command(context_settings={"show_default": True})
@_file_options
@_env_option("--router-bind", envvar=envvars.ROUTER_BIND, default="tcp://127.0.0.1:*", help="ROUTER endpoint.")
@_env_option("--pub-bind", envvar=envvars.PUB_BIND, default="tcp://127.0.0.1:*", help="PUB endpoint.")
@_env_option(
    "--endpoints-file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=envvars.ENDPOINTS_FILE,
    help="Where to write the endpoints bound (default: the run directory's coordinator_endpoints.json).",
)
@_env_option(
    "--metrics-file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=envvars.METRICS_FILE,
    help="Where to write per-step network metrics (default: the run directory's network_metrics.csv).",
)
@_env_option("--secure/--no-secure", envvar=envvars.SECURE, default=None, help=SECURE_HELP)
@fail_cleanly
def coordinator(
    router_bind: str,
    pub_bind: str,
    endpoints_file: Path | None,
    metrics_file: Path | None,
    secure: bool | None,
    heartbeat: Path | None,
    exit_with_parent: bool,
    **files: Any,
) -> None:
    """Run the coordinator. Every option can be set from the environment (ETS_ + its name)."""
    _leave_with_parent(exit_with_parent)
    from coordinator.service import run_coordinator
    from ets.run.process_config import CoordinatorOptions, coordinator_config

    options = CoordinatorOptions(
        router_bind, pub_bind, endpoints_file, metrics_file, secure, heartbeat, exit_with_parent
    )
    config = coordinator_config(_files(**files), options)
    _setup_logging("coordinator")
    sys.exit(run_coordinator(config))


@click.command()
@click.option(
    "--heartbeat",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=envvars.HEARTBEAT,
    required=True,
    show_envvar=True,
    help="The heartbeat file of the process to check.",
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=0, min_open=True),
    envvar=envvars.MAX_AGE,
    default=30.0,
    show_default=True,
    show_envvar=True,
    help="Seconds since the last beat beyond which the process counts as unhealthy.",
)
@fail_cleanly
def health(heartbeat: Path, max_age: float) -> None:
    """Exit 0 if the process writing HEARTBEAT beat within MAX_AGE seconds, else 1 (a container's health
    check)."""
    from runtime.health import check

    beat = check(heartbeat, max_age)
    click.echo(f"ok: pid {beat.pid}, height {beat.height}")
