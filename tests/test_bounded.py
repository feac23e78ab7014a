"""Every receive path bounded by bytes, and hellos rate-limited: floods of real processes against a running
10-household cluster.

* ``big_flood``: ~1 MiB forged frames from connections that reconnect long before they would be ignored,
  against the coordinator's ROUTER and a node's catch-up server (what grew a coordinator to 22 GB when
  queues counted frames). Each process's resident memory, sampled all along, stays within the bound
  ``runtime.budget`` documents for the connections it had; the results equal the in-process run's byte for
  byte.
* ``hello_flood``: thousands of correctly signed hellos from one household's key, each naming new
  endpoints. The coordinator counts a household's hellos at most every half interval, moves it at most
  every two and releases the peer list at most once an interval, so the nodes reconnect a handful of
  times, not thousands; the results are unchanged.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from pathlib import Path

import pytest
from click.testing import Result

from chain.crypto import SigningKey
from chain.genesis import Genesis
from chain.ledger import read_records
from ets.chaos.flood import FloodReport, big_flood, hello_flood
from ets.run.layout import RunLayout
from runtime.budget import Budget
from runtime.params import Params
from tests.conftest import PeakRss, child_pids, cli, household_pid, only_run_dir, wait_for, write_params

pytestmark = pytest.mark.timeout(150)

HOUSEHOLDS = 10
FLOOD_S = 10.0
FLOOD_CONNECTIONS = 8
"""Flooding connections open at once against each target (each made again every few frames)."""
OWN_GROWTH_MB = 16.0
"""What a process may grow by on its own in the rest of the run, flood or not (its ledger's index, the
history, the allocator's arenas): measured at 3.7 MB (coordinator) and 0.8 MB (h01) for this run without
any flood."""


def _height(layout: RunLayout) -> int:
    try:
        return len(read_records(layout.coordinator_ledger))
    except Exception:
        return 0


class Cluster:
    """``ets run`` in a thread, with what a flood needs once its first blocks are sealed."""

    def __init__(self, tmp_path: Path, steps: int) -> None:
        overrides = {"simulation": {"steps": steps}, "household": {"max_households": HOUSEHOLDS}}
        self.params = write_params(tmp_path / "params.json", overrides)
        self.tmp_path = tmp_path
        self.results = tmp_path / "results"
        self.outcome: list[Result] = []
        self.before = set(child_pids())
        self.thread = threading.Thread(
            target=lambda: self.outcome.append(
                cli("run", "--params", str(self.params), "--results", str(self.results), "-q")
            )
        )

    def __enter__(self) -> Cluster:
        self.thread.start()
        wait_for("the run directory", lambda: any(self.results.glob("sim_*")))
        self.layout = RunLayout(only_run_dir(self.results))
        wait_for("the first blocks", lambda: self.layout.coordinator_ledger.exists() and _height(self.layout) >= 2)
        self.endpoints = json.loads(self.layout.endpoints.read_text())
        self.genesis = Genesis.load(self.layout.genesis)
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=120)

    def over(self) -> bool:
        return not self.thread.is_alive()

    def check_results(self) -> Path:
        """The run succeeded, left no process, verifies, and its results are the in-process run's byte for byte."""
        assert not self.thread.is_alive(), "the run did not end"
        assert self.outcome and self.outcome[0].exit_code == 0, self.outcome[0].output if self.outcome else ""
        assert set(child_pids()) - self.before == set(), "the launcher left processes running"
        run = only_run_dir(self.results)
        engine = self.tmp_path / "engine"
        assert cli("simulate", "--params", str(self.params), "--results", str(engine), "-q").exit_code == 0
        ours = (run / "optimized_results.csv").read_bytes()
        assert ours == (only_run_dir(engine) / "optimized_results.csv").read_bytes()
        assert cli("verify", str(run)).exit_code == 0
        return run


def _flood_both(cluster: Cluster, targets: dict[str, str]) -> tuple[dict[str, FloodReport], float]:
    """``big_flood`` against each target at once, ``FLOOD_CONNECTIONS`` / 2 connections each."""
    signers = [m.public_key for m in cluster.genesis.members]
    reports: dict[str, FloodReport] = {}

    def one(name: str, endpoint: str, seed: int) -> None:
        reports[name] = big_flood(
            endpoint,
            seconds=FLOOD_S,
            connections=FLOOD_CONNECTIONS // 2,
            signers=signers,
            seed=seed,
            until=cluster.over,
        )

    floods = [threading.Thread(target=one, args=(n, e, i)) for i, (n, e) in enumerate(targets.items())]
    started = time.monotonic()
    for t in floods:
        t.start()
    for t in floods:
        t.join()
    return reports, time.monotonic() - started


def test_a_flood_of_large_forged_frames_stays_within_the_documented_bound(tmp_path: Path) -> None:
    with Cluster(tmp_path, steps=800) as cluster:
        layout = cluster.layout
        sync = re.search(r"sync (tcp://\S+)", layout.log("h01").read_text())
        assert sync is not None
        pids = {"coordinator": int(cluster.endpoints["pid"]), "h01": household_pid("h01")}
        rss = PeakRss(pids, 0.01)
        rss.start()
        try:
            reports, took = _flood_both(cluster, {"coordinator": cluster.endpoints["router"], "h01": sync.group(1)})
            assert not cluster.over(), "the run ended before the flood did: make it longer"
            cluster.thread.join(timeout=120)  # the rest of the run, sampled too
        finally:
            rss.stop()
    budget = Budget.of(cluster.genesis)
    network = Params.load(cluster.params).network
    bounds = {
        # every household's connection and the flood's at once
        "coordinator": budget.bound_bytes(HOUSEHOLDS + FLOOD_CONNECTIONS // 2),
        # its peers' catch-up connections and the flood's, and what it dials
        "h01": budget.bound_bytes(
            HOUSEHOLDS + FLOOD_CONNECTIONS // 2, 2 + 2 * network.gossip_fanout, budget.sync_server
        ),
    }
    sent = {name: (r.frames, round(r.bytes / 2**20), r.connections) for name, r in reports.items()}
    growth = {name: round(g, 1) for name, g in rss.growth().items()}
    print(f"big flood for {took:.1f} s: (frames, MiB, connections) {sent}; peak growth MB {growth}; bounds MB",
          {n: round(b / 2**20, 1) for n, b in bounds.items()})  # fmt: skip
    for name, report in reports.items():
        assert report.bytes > 2**28, f"the flood sent {name} too little to tell: {report}"
    for name in pids:
        # the network's part may reach its bound; the process's own growth comes on top of it
        allowed = bounds[name] / 2**20 + OWN_GROWTH_MB
        assert growth[name] < allowed, f"{name} grew by {growth[name]} MB under the flood, beyond {allowed:.1f} MB"
    cluster.check_results()


def test_a_flood_of_signed_hellos_with_new_endpoints_moves_the_peers_a_handful_of_times(tmp_path: Path) -> None:
    hellos = 3_000
    with Cluster(tmp_path, steps=300) as cluster:
        key = SigningKey.load(cluster.layout.key("h03"))
        started = time.monotonic()
        report = hello_flood(
            cluster.endpoints["router"], cluster.genesis, key, "h03", hellos, every_s=0.002, until=cluster.over
        )
        took = time.monotonic() - started
        assert report.frames == hellos and not cluster.over(), "the run ended before the flood did"
    run = cluster.check_results()
    layout = RunLayout(run)
    reconnects = {
        h: len(re.findall(r"reconnecting to peer h03", layout.log(h).read_text()))
        for h in cluster.genesis.household_ids
    }
    network = Params.load(cluster.params).network
    interval = network.heartbeat_interval_s
    # moves the coordinator can accept while the flood lasts (and an interval more, for what it reads late),
    # and the one back to the household's own
    moves = math.ceil((took + interval) / (2 * interval)) + 2
    total = sum(reconnects.values())
    limited = len(re.findall(r"RateError|sooner than", layout.log("coordinator").read_text()))
    print(f"{hellos} hellos in {took:.2f} s: {total} reconnects in all {reconnects}; at most {moves} moves")
    assert total <= network.gossip_fanout * moves, f"{total} reconnects under {hellos} hellos"
    assert total >= 1, "the flood moved nobody: it did not test the limit"
    assert limited >= 1, "the coordinator logged no RateError"
