"""The containers' processes, run here: each "host" is an address of its own on loopback, each process gets
exactly the arguments and environment its container gets (the Compose file's), with only the mount points
moved to this machine's files. No flag is added: every setting comes from ETS_* variables."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from chain.ledger import read_records
from ets.cli.common import load_params
from ets.deploy.containers import Container, Mounts, coordinator_container, node_container
from ets.deploy.provision import COORDINATOR_KEY_FILE, household_key_file, prepare
from ets.run.cluster import child_environment
from runtime.health import check
from tests.conftest import cli, write_params

HOUSEHOLDS = 3
STEPS = 4


def _start(container: Container, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ets", *container.argv],
            env=child_environment() | container.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def test_the_containers_commands_run_a_cluster(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path / "p.json"), households=HOUSEHOLDS, steps=STEPS)
    run = tmp_path / "run"
    genesis = prepare(params, run)
    net = f"127.{random.randint(64, 250)}.{random.randint(0, 250)}"  # its own addresses, default ports free
    volumes = tmp_path / "volumes"

    def mounts(name: str, key: str) -> Mounts:
        (volumes / name).mkdir(parents=True)
        return Mounts(config=str(run), data=str(volumes / name), key=str(run / key))

    coordinator = coordinator_container(mounts("coordinator", COORDINATOR_KEY_FILE), bind_host=f"{net}.1")
    nodes = [
        node_container(
            str(i),
            host=f"{net}.{i + 2}",
            coordinator_host=f"{net}.1",
            data_file=params.household.data_file,
            mounts=mounts(f"household-{i}", household_key_file(i)),
            bind_host=f"{net}.{i + 2}",
        )
        for i in range(HOUSEHOLDS)
    ]
    assert [n.argv for n in nodes] == [("node",)] * HOUSEHOLDS and coordinator.argv == ("coordinator",)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_start(coordinator, tmp_path / "coordinator.log"))
        procs += [_start(n, tmp_path / f"household-{i}.log") for i, n in enumerate(nodes)]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.2)
        logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("*.log")))
        assert [p.returncode for p in procs] == [0] * (HOUSEHOLDS + 1), logs
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
    ledgers = [volumes / "coordinator" / "coordinator.ledger"]
    ledgers += [volumes / f"household-{i}" / "household.ledger" for i in range(HOUSEHOLDS)]
    assert len(read_records(ledgers[0])) == STEPS + 1
    assert len({p.read_bytes() for p in ledgers}) == 1
    for name, proc in zip(["coordinator"] + [f"household-{i}" for i in range(HOUSEHOLDS)], procs, strict=True):
        assert check(volumes / name / "heartbeat.json", max_age_s=600).pid == proc.pid
    assert (volumes / "coordinator" / "network_metrics.csv").exists()
    assert "set --gossip-advertise" not in logs
    assert f"gossip peers: tcp://{net}.3:5557" in (tmp_path / "household-0.log").read_text()
    assert "complete" in (tmp_path / f"household-{HOUSEHOLDS - 1}.log").read_text()
    assert genesis.household_ids[HOUSEHOLDS - 1] in (tmp_path / f"household-{HOUSEHOLDS - 1}.log").read_text()
    copied = run / "ledgers" / "coordinator.ledger"  # as docker/README.md says to check a run
    shutil.copyfile(ledgers[0], copied)
    result = cli("verify", str(copied))
    assert result.exit_code == 0, result.output
