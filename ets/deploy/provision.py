"""The run directory a container cluster starts from (``ets docker setup``).

The usual run setup (params.json, genesis.json, a key per household and one for the coordinator), with
the private keys moved out of ``keys/`` (which keeps the public ones) to where the deployment hands each to
one container only::

    run/genesis.json, run/params.json          every container, read-only
    run/secrets/coordinator.key                the coordinator only
    run/secrets/households/household-<i>.key   the household at position i of genesis only

``secrets/`` and ``secrets/households/`` are private to their owner (0700); the key files in them are
readable by all (0444), because the container's user is not the host user that owns them and a bind-mounted
file keeps its owner and mode.
"""

from __future__ import annotations

import os
from pathlib import Path

from chain.errors import InputError
from chain.genesis import Genesis
from ets.run.layout import RunLayout
from ets.run.setup import create_run
from runtime.params import Params

DIR_MODE = 0o700
KEY_MODE = 0o444
COORDINATOR_KEY_FILE = "secrets/coordinator.key"
HOUSEHOLD_KEYS_DIR = "secrets/households"


def household_key_file(index: int) -> str:
    """The private key of the household at ``index`` in genesis, relative to the run directory."""
    return f"{HOUSEHOLD_KEYS_DIR}/household-{index}.key"


def prepare(params: Params, run_dir: Path) -> Genesis:
    """Set up ``run_dir`` for containers; refuses a directory that already holds a run."""
    layout = RunLayout(run_dir)
    if layout.genesis.exists():
        raise InputError(f"{run_dir} already holds a run (its keys are in use); remove it to set up a new one")
    run_dir.mkdir(parents=True, exist_ok=True)
    genesis = create_run(params, run_dir)
    for d in (run_dir / "secrets", run_dir / HOUSEHOLD_KEYS_DIR):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(d, DIR_MODE)
    _move_key(layout.key("coordinator"), run_dir / COORDINATOR_KEY_FILE)
    for i, hid in enumerate(genesis.household_ids):
        _move_key(layout.key(hid), run_dir / household_key_file(i))
    return genesis


def _move_key(source: Path, target: Path) -> None:
    os.replace(source, target)
    os.chmod(target, KEY_MODE)
