"""`ets node` and `ets coordinator` take every setting from flags or ETS_* variables; `ets health`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ets.cli import main
from ets.run.cluster import child_environment
from ets.run.process_config import CoordinatorOptions, Files, NodeOptions, coordinator_config, node_config
from ets.run.setup import RunLayout, create_run
from runtime import envvars
from runtime.health import Heartbeat, Unhealthy, check
from tests.conftest import cli, write_params


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ets.cli.common import load_params

    root = tmp_path_factory.mktemp("entry")
    run = root / "run"
    create_run(load_params(write_params(root / "p.json"), households=3), run)
    return run


@pytest.mark.parametrize("name", ["node", "coordinator", "health"])
def test_every_option_has_a_variable_that_help_lists(name: str) -> None:
    command = main.commands[name]
    assert isinstance(command, click.Command)
    text = cli(name, "--help").output
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            long_name = next(o for o in param.opts if o.startswith("--"))
            assert param.envvar == "ETS_" + long_name[2:].upper().replace("-", "_"), long_name
            assert param.envvar in envvars.OPTION_VARIABLES | {envvars.SECURE}  # which ets run may hand on
            assert param.envvar in text, param.envvar


def test_node_files_come_from_the_run_directory_unless_given(run_dir: Path, tmp_path: Path) -> None:
    layout = RunLayout(run_dir)
    options = NodeOptions(None, "households-1", "tcp://c:5555", "tcp://c:5556", "tcp://*:5557")
    config = node_config(Files(run_dir=run_dir), options)
    assert config.household == "h02"
    assert (config.key, config.ledger, config.genesis) == (layout.key("h02"), layout.ledger("h02"), layout.genesis)
    assert str(config.data).endswith("community40_15min.parquet")
    key, ledger = tmp_path / "k", tmp_path / "l"
    config = node_config(Files(genesis=layout.genesis, params=layout.params, key=key, ledger=ledger), options)
    assert (config.key, config.ledger, config.params) == (key, ledger, layout.params)
    with pytest.raises(Exception, match="ETS_KEY"):
        node_config(Files(genesis=layout.genesis, params=layout.params), options)


def test_coordinator_files_come_from_the_run_directory_unless_given(run_dir: Path, tmp_path: Path) -> None:
    layout = RunLayout(run_dir)
    config = coordinator_config(Files(run_dir=run_dir), CoordinatorOptions("tcp://*:1", "tcp://*:2"))
    assert (config.key, config.ledger) == (layout.key("coordinator"), layout.coordinator_ledger)
    assert (config.endpoints_file, config.metrics_file) == (layout.endpoints, layout.metrics)
    files = Files(genesis=layout.genesis, params=layout.params, key=tmp_path / "k", ledger=tmp_path / "l")
    config = coordinator_config(files, CoordinatorOptions("tcp://*:1", "tcp://*:2"))
    assert config.endpoints_file is None and config.ledger == tmp_path / "l"


def test_processes_of_ets_run_do_not_inherit_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(envvars.KEY, "/somewhere/else.key")
    monkeypatch.setenv("ETS_UNRELATED", "kept")
    env = child_environment()
    assert envvars.KEY not in env and env["ETS_UNRELATED"] == "kept"


def test_health(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.json"
    result = cli("health", "--heartbeat", str(path))
    assert result.exit_code == 1 and "no heartbeat yet" in result.output
    Heartbeat(path).beat(7)
    assert check(path).height == 7
    result = CliRunner(env={envvars.HEARTBEAT: str(path)}).invoke(main, ["health"])
    assert result.exit_code == 0 and "height 7" in result.output
    with pytest.raises(Unhealthy, match="last heartbeat"):
        check(path, max_age_s=5, now=time.time() + 60)


def test_the_coordinator_runs_from_the_environment_alone(run_dir: Path, tmp_path: Path) -> None:
    """Started with no flag at all, it binds where the variables say and reports it, then stops on SIGTERM."""
    env = child_environment() | {
        envvars.RUN_DIR: str(run_dir),
        envvars.LEDGER: str(tmp_path / "coordinator.ledger"),
        envvars.ROUTER_BIND: "tcp://127.0.0.1:*",
        envvars.PUB_BIND: "tcp://127.0.0.1:*",
        envvars.ENDPOINTS_FILE: str(tmp_path / "endpoints.json"),
        envvars.HEARTBEAT: str(tmp_path / "heartbeat.json"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ets", "coordinator"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp_path / "heartbeat.json").exists():
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            time.sleep(0.1)
        endpoints = json.loads((tmp_path / "endpoints.json").read_text())
        assert endpoints["pid"] == proc.pid
        assert endpoints["router"].startswith("tcp://127.0.0.1:") and endpoints["pub"].startswith("tcp://127.0.0.1:")
        assert check(tmp_path / "heartbeat.json").pid == proc.pid
        assert (tmp_path / "coordinator.ledger").exists()
        assert not RunLayout(run_dir).endpoints.exists()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0  # stopped at the start barrier, before any household came
