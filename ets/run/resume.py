"""``ets run --resume RUN_DIR``: an interrupted cluster run taken up again in its own directory.

Nothing is written anew: the coordinator and every node resume from their ledgers (a torn last record is
cut off as after any crash) and the step after the last sealed block opens again. Refused, in one line:
a directory that is not a run directory of ``ets run``, one whose run is complete, and one whose
processes are still running.
"""

from __future__ import annotations

import json
from pathlib import Path

from chain.errors import InputError
from chain.genesis import Genesis
from chain.ledger import salvage_file
from ets.run.layout import RunLayout
from ets.run.workflow import PreparedRun
from runtime.data import run_data
from runtime.grid import grid_series
from runtime.health import Unhealthy, read_beat
from runtime.params import Params


def reopen_run(run_dir: Path) -> PreparedRun:
    """The prepared run of an interrupted ``ets run`` (``InputError`` naming why it cannot be resumed)."""
    layout = RunLayout(run_dir)
    where = f"--resume {run_dir}"
    if not (layout.genesis.is_file() and layout.params.is_file() and layout.key("coordinator").is_file()):
        raise InputError(f"{where}: not a run directory of `ets run` (no genesis.json, params.json or keys/)")
    try:
        kind = layout.kind()
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(f"{where}: unreadable run.json: {exc}") from exc
    if kind != "cluster":
        raise InputError(f"{where}: run.json says {kind!r}, not a cluster run of `ets run`; there is nothing to resume")
    genesis = Genesis.load(layout.genesis)
    params = Params.load(layout.params)
    sealed = _sealed_blocks(layout)
    if sealed >= genesis.steps + 1:
        raise InputError(f"{where}: the run is complete ({sealed} blocks sealed); there is nothing to resume")
    pid = _running_pid(layout)
    if pid is not None:
        raise InputError(f"{where}: a process of this run is still running (pid {pid})")
    data = run_data(genesis, params)
    grid = grid_series(params, genesis.steps + genesis.horizon, len(genesis.members))
    return PreparedRun(run_dir, genesis, params, data, grid)


def _sealed_blocks(layout: RunLayout) -> int:
    path = layout.coordinator_ledger
    if not path.exists():
        return 0
    spans = salvage_file(path)  # a torn tail is not a block; other damage is an error
    if spans.damage is not None:
        raise spans.damage
    return len(spans)


def _running_pid(layout: RunLayout) -> int | None:
    """The pid of a process that wrote one of the run's heartbeat files and still runs on this run
    directory (its command line names the directory), if any; None where there is no ``/proc``."""
    name = layout.root.resolve().name.encode()
    for path in sorted(layout.root.glob("heartbeats/*.json")):
        try:
            pid = read_beat(path).pid
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (Unhealthy, OSError, json.JSONDecodeError):
            continue
        if name in command:
            return pid
    return None
