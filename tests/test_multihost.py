"""Multi-host: the coordinator and every node on a host (network namespace) of its own, CurveZMQ on.

Cutting one node's link makes it absent and it catches up when the link is back; a node cut off from
the coordinator alone still gets every block from its peers' gossip; a coordinator whose host vanished
without closing its connections and came back at the same address (a container's network torn down
and made again) is found again by every node, the one that had been cut off included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chain.crypto import Verifier
from chain.errors import LedgerCorrupt
from chain.genesis import Genesis
from chain.ledger import read_records
from chain.reading import read_block
from ets.cli.common import load_params
from ets.deploy.containers import (
    COORDINATOR_LEDGER,
    HOUSEHOLD_LEDGER,
    Container,
    Mounts,
    coordinator_container,
    node_container,
)
from ets.deploy.provision import COORDINATOR_KEY_FILE, household_key_file, prepare
from ets.run.cluster import child_environment
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


def _height(path: Path, seconds: float = 10) -> int:
    """The number of records in the ledger at ``path``, read again while its last record is being
    written (a torn read is not a height: a height of -1 would make every later comparison wrong)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return len(read_records(path))
        except FileNotFoundError:
            return -1  # not made yet
        except (LedgerCorrupt, OSError):
            if time.monotonic() > deadline:
                return -1
            time.sleep(0.01)


def _wait(what: str, check: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@dataclass
class Hosts:
    """The coordinator and the nodes, each run with exactly its container's arguments and environment
    (``ets.deploy``), only the mount points moved to this machine's files, inside a namespace of its own."""

    lab: Lab
    genesis: Genesis
    run: Path
    logs_dir: Path
    containers: dict[str, Container]
    ledger: dict[str, Path]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return ["coordinator", *self.genesis.household_ids]

    def log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def start(self, name: str) -> None:
        container = self.containers[name]
        with self.log(name).open("ab") as log:
            self.procs[name] = subprocess.Popen(
                self.lab.command(name, [sys.executable, "-m", "ets", *container.argv]),
                env=child_environment() | container.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self, name: str) -> None:
        self.procs[name].kill()
        self.procs[name].wait()

    def height(self, name: str = "coordinator") -> int:
        return _height(self.ledger[name])

    def wait_all(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        for name, proc in self.procs.items():
            try:
                rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                rc = None
            assert rc == 0, f"{name} {'failed' if rc is not None else 'still runs'} at height {self.height(name)}"

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def assert_ledgers_identical(self) -> list[bytes]:
        records = read_records(self.ledger["coordinator"])
        assert len(records) == self.genesis.steps + 1
        for hid in self.genesis.household_ids:
            assert read_records(self.ledger[hid]) == records, f"{hid}'s ledger differs from the coordinator's"
        copied = self.run / "ledgers" / "coordinator.ledger"
        shutil.copyfile(self.ledger["coordinator"], copied)
        result = cli("verify", str(copied))
        assert result.exit_code == 0, result.output
        return records


def _hosts(lab: Lab, tmp_path: Path, network: dict[str, float], households: int = 4, steps: int = 60) -> Hosts:
    params = load_params(write_params(tmp_path / "p.json", {"network": network}), households=households, steps=steps)
    run = tmp_path / "run"
    genesis = prepare(params, run)
    for name in ["coordinator", *genesis.household_ids]:
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
    return Hosts(lab, genesis, run, tmp_path, containers, ledger)


def test_nodes_on_separate_hosts_survive_a_cut_link(lab: Lab, tmp_path: Path) -> None:
    hosts = _hosts(lab, tmp_path, {"heartbeat_timeout_s": 2.0, "offer_timeout_s": 10.0, "end_timeout_s": 30.0})
    ledger, genesis = hosts.ledger, hosts.genesis
    try:
        for name in hosts.names:
            hosts.start(name)
        cut, relayed = genesis.household_ids[1], genesis.household_ids[2]

        _wait("the first blocks", lambda: hosts.height() >= 6)
        lab.cut(cut)
        at_cut = hosts.height()
        _wait("steps without the cut node", lambda: hosts.height() >= at_cut + 5)
        lab.restore(cut)

        lab.blackhole(relayed, "coordinator")
        before = hosts.height(relayed)
        _wait("blocks relayed by peers", lambda: _height(ledger[relayed]) >= before + 4)
        lab.unblackhole(relayed, "coordinator")

        hosts.wait_all()
    finally:
        hosts.stop_all()
    records = hosts.assert_ledgers_identical()
    verifier = Verifier()
    blocks = [read_block(raw, genesis, verifier)[1] for raw in records]
    assert [b.step for b in blocks if cut in b.absent and b.step >= at_cut], f"{cut} was never absent while cut off"
    assert [b.step for b in blocks if relayed in b.absent], f"{relayed} offered without reaching the coordinator"
    for name in hosts.names:
        assert "CurveZMQ on" in hosts.log(name).read_text(), f"{name} ran without CurveZMQ"


def test_a_coordinator_whose_host_vanished_is_found_again_at_the_same_address(lab: Lab, tmp_path: Path) -> None:
    """A node cut off for several steps, its link back; then the coordinator's host vanishes without a
    word to anyone (its link gone before its process is killed, so no FIN or RST leaves) and a new one at
    the same address starts the coordinator again, which resumes from its ledger. Every node's old
    connections to the coordinator are half-open: the SUB ones would never hear of it, the nodes would
    hear no step again (and the coordinator, getting their heartbeats, would wait for their offers every
    step). They find out by their pings, dial again and are back at the tip at once."""
    network = {
        "heartbeat_timeout_s": 2.0,
        "offer_timeout_s": 10.0,
        "end_timeout_s": 30.0,
        "peer_timeout_s": 30.0,
        "start_grace_s": 20.0,  # the resumed coordinator waits until every node said hello again
    }
    hosts = _hosts(lab, tmp_path, network, steps=50)
    cut = hosts.genesis.household_ids[1]
    try:
        for name in hosts.names:
            hosts.start(name)
        _wait("the first blocks", lambda: hosts.height() >= 6)
        lab.cut(cut)
        at_cut = hosts.height()
        _wait("steps without the cut node", lambda: hosts.height() >= at_cut + 4)
        lab.restore(cut)
        lab.cut("coordinator")
        hosts.kill("coordinator")
        at_kill = hosts.height()
        lab.replace("coordinator")
        hosts.start("coordinator")
        hosts.wait_all(90)
    finally:
        hosts.stop_all()
    records = hosts.assert_ledgers_identical()
    verifier = Verifier()
    blocks = [read_block(raw, hosts.genesis, verifier)[1] for raw in records]
    assert f"resuming at step {at_kill}" in hosts.log("coordinator").read_text()
    absent = {b.step: b.absent for b in blocks if b.absent}
    assert any(cut in who for who in absent.values()), f"{cut} was never absent while cut off"
    assert "4 of 4 households present; resuming" in hosts.log("coordinator").read_text()
    late = {step: who for step, who in absent.items() if step >= at_kill}
    assert not late, f"absent after the coordinator came back (at step {at_kill}): {late}"
