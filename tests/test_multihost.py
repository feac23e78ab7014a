"""Multi-host: the coordinator and every node on a host (network namespace) of its own, CurveZMQ on.

Cutting one node's link makes it absent and it catches up when the link is back; a node cut off from
the coordinator alone still gets every block from its peers' gossip.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chain.errors import LedgerCorrupt
from chain.ledger import read_records
from ets.params import Params
from ets.setup import RunLayout
from ets.workflow import blocks_from_ledger, finish_run, prepare_run
from tests.conftest import write_params
from tests.faults import ChaosRun
from tests.netns import Lab, NetnsUnavailable, netns_lab

pytestmark = pytest.mark.timeout(240)

ROUTER_PORT, PUB_PORT, GOSSIP_PORT, SYNC_PORT = 5555, 5556, 7000, 7001


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
    params = Params.load(
        write_params(
            tmp_path / "p.json",
            {
                "simulation": {"steps": 60},
                "household": {"max_households": 4},
                "network": {"heartbeat_timeout_s": 2.0, "offer_timeout_s": 10.0, "end_timeout_s": 30.0},
            },
        )
    )
    prepared = prepare_run(params, tmp_path / "results", "cluster")
    layout = RunLayout(prepared.run_dir)
    hosts = ["coordinator", *prepared.genesis.household_ids]
    for name in hosts:
        lab.add_host(name)
    c = lab.addresses["coordinator"]
    router, pub = f"tcp://{c}:{ROUTER_PORT}", f"tcp://{c}:{PUB_PORT}"
    argv = {
        "coordinator": ["coordinator", "--run-dir", str(layout.root), "--router-bind", router, "--pub-bind", pub],
    }
    for hid in prepared.genesis.household_ids:
        a = lab.addresses[hid]
        argv[hid] = [
            "node", "--run-dir", str(layout.root), "--household", hid, "--router", router, "--pub", pub,
            "--gossip-bind", f"tcp://{a}:{GOSSIP_PORT}", "--sync-bind", f"tcp://{a}:{SYNC_PORT}",
        ]  # fmt: skip
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in hosts:
            with layout.log(name).open("ab") as log:
                procs[name] = subprocess.Popen(
                    lab.command(name, [sys.executable, "-m", "ets", *argv[name]]),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        coordinator_ledger = layout.coordinator_ledger
        cut, relayed = prepared.genesis.household_ids[1], prepared.genesis.household_ids[2]

        _wait("the first blocks", lambda: _height(coordinator_ledger) >= 6)
        lab.cut(cut)
        at_cut = _height(coordinator_ledger)
        _wait("steps without the cut node", lambda: _height(coordinator_ledger) >= at_cut + 5)
        lab.restore(cut)

        lab.blackhole(relayed, "coordinator")
        before = _height(layout.ledger(relayed))
        _wait("blocks relayed by peers", lambda: _height(layout.ledger(relayed)) >= before + 4)
        lab.unblackhole(relayed, "coordinator")

        for name, proc in procs.items():
            assert proc.wait(timeout=120) == 0, f"{name} failed; see {layout.log(name)}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finish_run(prepared, blocks_from_ledger(prepared), quiet=True)
    run = ChaosRun(layout.root)
    run.assert_ledgers_identical()
    run.assert_verifies()
    assert [s for s in run.absent_steps(cut) if s >= at_cut], f"{cut} was never absent while cut off"
    assert run.absent_steps(relayed), f"{relayed} offered although it could not reach the coordinator"
    for name in hosts:
        assert "CurveZMQ on" in layout.log(name).read_text(), f"{name} ran without CurveZMQ"
