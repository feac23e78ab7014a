"""Multi-host: the coordinator and every node on a host (network namespace) of its own, CurveZMQ on.

Cutting one node's link makes it absent and it catches up when the link is back; a node cut off from
the coordinator alone still gets every block from its peers' gossip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chain.crypto import Verifier
from chain.errors import LedgerCorrupt
from chain.ledger import read_records
from chain.reading import read_block
from ets.cli import load_params
from ets.deploy.containers import (
    COORDINATOR_LEDGER,
    HOUSEHOLD_LEDGER,
    Mounts,
    coordinator_container,
    node_container,
)
from ets.deploy.provision import COORDINATOR_KEY_FILE, household_key_file, prepare
from ets.launcher import child_environment
from tests.conftest import cli, write_params
from tests.netns import Lab, NetnsUnavailable, netns_lab

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def lab() -> Iterator[Lab]:
    try:
        with netns_lab() as made:
            yield made
    except NetnsUnavailable as exc:
        pytest.skip(str(exc))


def _height(path: Path) -> int:
    try:
        return len(read_records(path))
    except (LedgerCorrupt, OSError):
        return -1  # being written


def _wait(what: str, check: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_nodes_on_separate_hosts_survive_a_cut_link(lab: Lab, tmp_path: Path) -> None:
    """Each process runs with exactly its container's arguments and environment (``ets.deploy``), only
    the mount points moved to this machine's files, inside a namespace of its own."""
    params = load_params(
        write_params(
            tmp_path / "p.json",
            {"network": {"heartbeat_timeout_s": 2.0, "offer_timeout_s": 10.0, "end_timeout_s": 30.0}},
        ),
        households=4,
        steps=60,
    )
    run = tmp_path / "run"
    genesis = prepare(params, run)
    hosts = ["coordinator", *genesis.household_ids]
    for name in hosts:
        lab.add_host(name)
    volumes = tmp_path / "volumes"

    def mounts(name: str, key: str) -> Mounts:
        (volumes / name).mkdir(parents=True)
        return Mounts(config=str(run), data=str(volumes / name), key=str(run / key))

    c = lab.addresses["coordinator"]
    containers = {"coordinator": coordinator_container(mounts("coordinator", COORDINATOR_KEY_FILE), bind_host=c)}
    for i, hid in enumerate(genesis.household_ids):
        a = lab.addresses[hid]
        containers[hid] = node_container(
            str(i),
            host=a,
            coordinator_host=c,
            data_file=params.household.data_file,
            mounts=mounts(hid, household_key_file(i)),
            bind_host=a,
        )
    ledger = {"coordinator": volumes / "coordinator" / COORDINATOR_LEDGER}
    ledger |= {hid: volumes / hid / HOUSEHOLD_LEDGER for hid in genesis.household_ids}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in hosts}
    try:
        for name in hosts:
            container = containers[name]
            with logs[name].open("wb") as log:
                procs[name] = subprocess.Popen(
                    lab.command(name, [sys.executable, "-m", "ets", *container.argv]),
                    env=child_environment() | container.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
        cut, relayed = genesis.household_ids[1], genesis.household_ids[2]

        _wait("the first blocks", lambda: _height(ledger["coordinator"]) >= 6)
        lab.cut(cut)
        at_cut = _height(ledger["coordinator"])
        _wait("steps without the cut node", lambda: _height(ledger["coordinator"]) >= at_cut + 5)
        lab.restore(cut)

        lab.blackhole(relayed, "coordinator")
        before = _height(ledger[relayed])
        _wait("blocks relayed by peers", lambda: _height(ledger[relayed]) >= before + 4)
        lab.unblackhole(relayed, "coordinator")

        for name, proc in procs.items():
            assert proc.wait(timeout=120) == 0, f"{name} failed; see {logs[name]}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    records = read_records(ledger["coordinator"])
    assert len(records) == genesis.steps + 1
    for hid in genesis.household_ids:
        assert read_records(ledger[hid]) == records, f"{hid}'s ledger differs from the coordinator's"
    copied = run / "ledgers" / "coordinator.ledger"
    shutil.copyfile(ledger["coordinator"], copied)
    result = cli("verify", str(copied))
    assert result.exit_code == 0, result.output
    verifier = Verifier()
    blocks = [read_block(raw, genesis, verifier)[1] for raw in records]
    assert [b.step for b in blocks if cut in b.absent and b.step >= at_cut], f"{cut} was never absent while cut off"
    assert [b.step for b in blocks if relayed in b.absent], f"{relayed} offered without reaching the coordinator"
    for name in hosts:
        assert "CurveZMQ on" in logs[name].read_text(), f"{name} ran without CurveZMQ"
