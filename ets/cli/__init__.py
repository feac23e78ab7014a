"""The ``ets`` command line, one module per command group. Heavy modules are imported inside the commands
that need them, so a node process does not pay for the solver or plotting."""

from __future__ import annotations

import click

from ets.cli.checking import bound, verify
from ets.cli.docker import docker
from ets.cli.inputs import data, grid_capacity, params
from ets.cli.processes import coordinator, health, node
from ets.cli.running import baseline, results, run, simulate
from ets.cli.viewing import playback, report


@click.group()
def main() -> None:
    """Peer-to-peer energy trading network simulator."""


COMMANDS = (run, simulate, baseline, results, verify, bound, playback, report, node, coordinator, health, params)
for command in (*COMMANDS, data, grid_capacity, docker):
    main.add_command(command)
