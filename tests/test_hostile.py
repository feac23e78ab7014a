"""100,000 hostile frames against a running cluster: nothing crashes, memory stays bounded, honest work is unchanged."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import zmq
from click.testing import Result

from chain.genesis import Genesis
from chain.ledger import read_records
from ets.chaos.flood import FloodReport, flood
from ets.run.setup import RunLayout
from runtime.budget import WIRE_OVERHEAD, Budget
from tests.conftest import PeakRss, cli, household_pid, only_run_dir, wait_for, write_params

pytestmark = pytest.mark.timeout(300)

FRAMES = 100_000


def test_a_flood_of_hostile_frames_changes_nothing(tmp_path: Path) -> None:
    # long enough that the run goes on after the flood until the node has read (and counted) every frame:
    # at 144 steps a faster run ended with a tenth of them still unread
    overrides = {"simulation": {"steps": 432}}
    params = write_params(tmp_path / "p.json", overrides)
    results = tmp_path / "results"
    outcome: list[Result] = []
    runner = threading.Thread(
        target=lambda: outcome.append(cli("run", "--params", str(params), "--results", str(results), "-q"))
    )
    runner.start()
    try:
        wait_for("the run directory", lambda: any(results.glob("sim_*")))
        layout = RunLayout(only_run_dir(results))
        wait_for("the first blocks", lambda: layout.coordinator_ledger.exists() and _height(layout) >= 2)
        coordinator = json.loads(layout.endpoints.read_text())
        sync = re.search(r"sync (tcp://\S+)", layout.log("h01").read_text())
        assert sync is not None
        pids = {"coordinator": int(coordinator["pid"]), "h01": household_pid("h01")}
        rss = PeakRss(pids, 0.02)
        samples = read_records(layout.coordinator_ledger)[:2]
        budget = Budget.of(Genesis.load(layout.genesis))
        # frames within each socket's limit reach the code that drops them; larger ones are refused as they
        # arrive (tests/test_bounded.py), and the connection closed
        largest = {
            "coordinator": budget.coordinator_router.max_message_bytes - WIRE_OVERHEAD,
            "h01": budget.sync_server.max_message_bytes - WIRE_OVERHEAD,
        }
        rss.start()
        run_over = lambda: not runner.is_alive()  # noqa: E731
        reports: dict[str, FloodReport] = {}
        floods = [
            threading.Thread(
                target=lambda name=name, endpoint=endpoint, seed=seed: reports.__setitem__(
                    name,
                    flood(
                        endpoint,
                        FRAMES // 2,
                        samples=samples,
                        seed=seed,
                        max_bytes=largest[name],
                        setup=_wait_at_most_1s,
                        until=run_over,
                    ),
                )
            )
            for name, endpoint, seed in (("coordinator", coordinator["router"], 1), ("h01", sync.group(1), 2))
        ]
        started = time.monotonic()
        for t in floods:
            t.start()
        for t in floods:
            t.join()
        took = time.monotonic() - started
        rss.stop()
        sent, sent_sync = reports["coordinator"], reports["h01"]
        assert sent.frames + sent_sync.frames == FRAMES, f"the run ended after {sent} and {sent_sync} ({took:.1f} s)"
    finally:
        runner.join(timeout=240)
    assert outcome and outcome[0].exit_code == 0, outcome[0].output if outcome else "the run did not end"
    print(f"flood of {FRAMES} frames took {took:.1f} s; peak growth", {n: round(g, 1) for n, g in rss.growth().items()})
    for name, growth in rss.growth().items():
        assert growth < 50, f"{name} grew by {growth:.1f} MB under the flood"
    run = only_run_dir(results)
    assert all(not b for b in _absent(run)), "an honest household missed a step"
    engine = tmp_path / "engine"
    assert cli("simulate", "--params", str(params), "--results", str(engine), "-q").exit_code == 0
    ours = pd.read_csv(run / "optimized_results.csv")
    reference = pd.read_csv(only_run_dir(engine) / "optimized_results.csv")
    pd.testing.assert_frame_equal(ours, reference)
    dropped = _dropped(layout.log("coordinator").read_text())
    assert dropped > 0.9 * sent.frames, f"the coordinator counted {dropped} of {sent.frames} frames as dropped"
    dropped = _dropped(layout.log("h01").read_text())
    assert dropped > 0.9 * sent_sync.frames, f"h01 counted {dropped} of {sent_sync.frames} frames as dropped"
    assert cli("verify", str(run)).exit_code == 0


def _wait_at_most_1s(sock: zmq.Socket[bytes]) -> None:
    """A send the target holds back (its per-connection budget is full, or it closed the connection over an
    oversize frame) ends that connection after 1 s, and the flood goes on with a new one."""
    sock.setsockopt(zmq.SNDTIMEO, 1_000)


def _height(layout: RunLayout) -> int:
    try:
        return len(read_records(layout.coordinator_ledger))
    except Exception:
        return 0


def _absent(run: Path) -> list[tuple[str, ...]]:
    from chain.crypto import Verifier
    from chain.genesis import Genesis
    from chain.reading import read_block

    layout = RunLayout(run)
    genesis = Genesis.load(layout.genesis)
    verifier = Verifier()
    return [read_block(raw, genesis, verifier)[1].absent for raw in read_records(layout.coordinator_ledger)]


def _dropped(log: str) -> int:
    found = re.findall(r"(\d+) messages dropped", log)
    assert found, "the coordinator did not report what it dropped"
    return int(found[-1])
