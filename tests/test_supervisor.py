"""The launcher as a supervisor, and the launcher's own end: real processes, signalled by pid from outside
(no chaos plan), as an operator, the kernel or a crash would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chain.ledger import salvage_file
from ets.run.launcher import _interruptions
from ets.run.layout import RunLayout
from ets.run.supervisor import RestartPolicy, Supervisor
from runtime.health import Unhealthy, read_beat
from tests.conftest import cli, only_run_dir, write_params
from tests.faults import ChaosRun
from tests.test_interrupt import alive, children_of

NETWORK = {"offer_timeout_s": 10.0, "heartbeat_timeout_s": 3.0, "end_timeout_s": 3.0, "start_grace_s": 30.0}
"""Short waits for a household gone; a resumed run waits for every household it starts (the comparison
with a clean run needs all of them in every step)."""


@dataclass
class Launch:
    """``ets run`` as a process of its own (its own session: signals reach it alone)."""

    popen: subprocess.Popen[bytes]
    results: Path
    output: Path
    seen: set[int] = field(default_factory=set)
    """Every pid of the cluster seen (from the heartbeat files and the launcher's children)."""

    @property
    def run_dir(self) -> Path:
        return only_run_dir(self.results)

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_dir)

    def wait_for(self, condition: Any, what: str, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.note_pids()
            if condition():
                return
            assert self.popen.poll() is None, f"the run ended before {what}: {self.text()}"
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout_s} s")

    def blocks(self) -> int:
        dirs = list(self.results.glob("sim_*/ledgers/coordinator.ledger"))
        if not dirs:
            return 0
        spans = salvage_file(dirs[0])  # a torn tail (a block being written) is not counted; damage is an error
        assert spans.damage is None, spans.damage
        return len(spans)

    def pid(self, name: str) -> int | None:
        """The pid in ``name``'s heartbeat file, if that process is running."""
        try:
            pid = read_beat(self.layout.heartbeat(name)).pid
        except (Unhealthy, AssertionError):
            return None
        return pid if alive(pid) else None

    def note_pids(self) -> None:
        self.seen.update(children_of(self.popen.pid))
        if list(self.results.glob("sim_*")):
            for path in self.layout.root.glob("heartbeats/*.json"):
                with contextlib.suppress(Unhealthy):
                    self.seen.add(read_beat(path).pid)

    def kill(self, *names: str, signum: int = signal.SIGKILL) -> list[int]:
        pids = []
        for name in names:
            self.wait_for(lambda n=name: self.pid(n) is not None, f"{name} running")
            pid = self.pid(name)
            assert pid is not None
            os.kill(pid, signum)
            pids.append(pid)
        return pids

    def restarted(self, name: str, old: int) -> bool:
        pid = self.pid(name)
        return pid is not None and pid != old

    def finish(self, timeout_s: float = 120) -> int:
        self.popen.wait(timeout=timeout_s)
        return self.popen.returncode

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def orphans(self) -> list[int]:
        return sorted(p for p in self.seen if p != self.popen.pid and alive(p))


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Any]:
    started: list[Launch] = []

    def start(steps: int = 300, network: dict[str, Any] | None = None) -> Launch:
        params = write_params(
            tmp_path / "params.json",
            {"simulation": {"steps": steps}, "household": {"max_households": 4}, "network": NETWORK | (network or {})},
        )
        output = tmp_path / "launcher.txt"
        with output.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "ets", "run", "--params", str(params), "--results", str(tmp_path / "r"), "-q"],
                start_new_session=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        run = Launch(popen, tmp_path / "r", output)
        started.append(run)
        return run

    yield start
    for run in started:  # whatever a failed test left: by pid, stopped ones continued first
        for pid in [run.popen.pid, *run.orphans()]:
            if alive(pid):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        run.popen.wait(timeout=10)


@pytest.mark.timeout(240)
def test_processes_killed_or_stopped_for_ever_from_outside_are_restarted_and_the_run_verifies(launch: Any) -> None:
    """kill -9 of one node, then of half the community at once, then of the coordinator, and a node stopped
    (SIGSTOP) and never continued: each is restarted (the stopped one once its heartbeat is older than
    network.hang_timeout_s), the run completes, every ledger is the coordinator's and verify passes."""
    run = launch(steps=400, network={"hang_timeout_s": 5.0})
    run.wait_for(lambda: run.blocks() >= 20, "20 blocks")
    (stopped,) = run.kill("h01", signum=signal.SIGSTOP)
    (h02,) = run.kill("h02")
    run.wait_for(lambda: run.restarted("h02", h02), "h02 restarted")
    half = run.kill("h03", "h04")
    run.wait_for(lambda: run.restarted("h03", half[0]) and run.restarted("h04", half[1]), "h03 and h04 restarted")
    run.wait_for(lambda: run.restarted("h01", stopped), "h01 taken as hung and restarted")
    run.kill("coordinator")
    assert run.finish() == 3, run.text()  # completed, with faults
    run.note_pids()
    for name in ("h02", "h03", "h04", "coordinator"):
        assert f"fault: {name} exited with -9 at step" in run.text()
    assert "fault: h01 stopped responding (no heartbeat for" in run.text() and not alive(stopped)
    log = run.layout.log("supervisor").read_text()
    assert log.count("; restarted after 0.5 s (1 of 5)") == 5, log
    assert "failed:" not in run.text()
    chaos = ChaosRun(run.run_dir)
    chaos.assert_ledgers_identical()
    chaos.assert_verifies()
    assert "resumed from the ledger" in run.layout.log("h03").read_text()
    assert (run.run_dir / "optimized_results.csv").is_file()
    assert run.orphans() == []


@pytest.mark.timeout(180)
def test_with_restarts_disabled_the_run_completes_without_the_killed_households(launch: Any) -> None:
    run = launch(steps=120, network={"max_restarts": 0})
    run.wait_for(lambda: run.blocks() >= 20, "20 blocks")
    run.kill("h03", "h04")
    assert run.finish() == 3, run.text()
    run.note_pids()
    text = run.text()
    assert "h03 exited with -9 at step" in text and "not restarted: restarts disabled" in text
    assert "completed with faults; failed: h03, h04" in text
    for name in ("optimized_results.csv", "summary.json"):
        assert (run.run_dir / name).is_file(), name
    blocks = ChaosRun(run.run_dir).blocks()
    assert len(blocks) == 121
    assert {"h03", "h04"} <= set(blocks[-2].absent) and "h01" not in blocks[-2].absent
    assert run.orphans() == []


@pytest.mark.timeout(240)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_the_launchers_end_leaves_no_process_and_no_degraded_block(
    launch: Any, tmp_path: Path, signum: signal.Signals
) -> None:
    """SIGTERM is a Ctrl-C; after SIGKILL the kernel tells every process. Either way none is left after 3 s
    and the step being collected is abandoned, not sealed with households absent. After SIGTERM the run
    resumes in its directory to the results of a clean run."""
    run = launch(steps=150)
    run.wait_for(lambda: run.blocks() >= 20 and len(children_of(run.popen.pid)) == 5, "20 blocks")
    run.note_pids()
    assert len(run.seen) >= 5
    os.kill(run.popen.pid, signum)
    stopped = time.monotonic()
    while run.orphans() and time.monotonic() - stopped < 3:
        time.sleep(0.05)
    assert run.orphans() == [], "processes were left running 3 s after the launcher's end"
    status = run.finish(timeout_s=20)
    assert status == (-signal.SIGKILL if signum == signal.SIGKILL else 130), run.text()
    if signum != signal.SIGKILL:
        assert "interrupted: every process was stopped" in run.text()
    chaos = ChaosRun(run.run_dir)
    blocks = chaos.blocks()
    assert 20 <= len(blocks) < 151
    assert [b.step for b in blocks if b.absent] == []
    assert f"stopped by signal at height {len(blocks)}" in run.layout.log("coordinator").read_text()
    if signum == signal.SIGKILL:
        return
    resumed = cli("run", "--resume", str(run.run_dir), "-q")
    assert resumed.exit_code == 0, resumed.output
    chaos.assert_ledgers_identical()
    clean = cli("simulate", "--params", str(tmp_path / "params.json"), "--results", str(tmp_path / "clean"), "-q")
    assert clean.exit_code == 0, clean.output
    expected = (only_run_dir(tmp_path / "clean") / "optimized_results.csv").read_bytes()
    assert (run.run_dir / "optimized_results.csv").read_bytes() == expected
    again = cli("run", "--resume", str(run.run_dir), "-q")
    assert again.exit_code == 2 and "the run is complete (151 blocks sealed)" in again.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_sigterm_and_sighup_interrupt_the_launcher_like_ctrl_c(signum: signal.Signals) -> None:
    previous = signal.getsignal(signum)
    with pytest.raises(KeyboardInterrupt), _interruptions():
        os.kill(os.getpid(), signum)
        time.sleep(5)
    assert signal.getsignal(signum) == previous


def test_resume_refuses_what_it_cannot_continue(tmp_path: Path) -> None:
    result = cli("run", "--resume", str(tmp_path), "-q")
    assert result.exit_code == 2 and "not a run directory of `ets run`" in result.output
    assert len(result.output.strip().splitlines()) == 1
    params = write_params(tmp_path / "p.json", {"simulation": {"steps": 2}})
    assert cli("simulate", "--params", str(params), "--results", str(tmp_path / "r"), "-q").exit_code == 0
    result = cli("run", "--resume", str(only_run_dir(tmp_path / "r")), "-q")
    assert result.exit_code == 2 and "run.json says 'in-process', not a cluster run" in result.output
    result = cli("run", "--resume", str(only_run_dir(tmp_path / "r")), "-s", "3")
    assert result.exit_code == 2 and "drop --steps" in result.output


@dataclass
class _Child:
    popen: subprocess.Popen[bytes]
    heartbeat: Path | None = None
    started: float = field(default_factory=time.monotonic)


class _Failing:
    """A 'cluster' of one process that exits 1 at once, every time it is started."""

    def __init__(self) -> None:
        self.procs: dict[str, _Child] = {}
        self.starts: list[float] = []
        self.start("h01")

    def running(self) -> dict[str, _Child]:
        return dict(self.procs)

    def start(self, name: str) -> None:
        self.starts.append(time.monotonic())
        self.procs[name] = _Child(subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"]))


@dataclass
class _NoPlan:
    last_step: int = 7

    def planned(self, name: str) -> bool:
        return False


@pytest.mark.timeout(30)
def test_a_process_that_keeps_failing_is_restarted_with_doubling_backoff_up_to_the_limit(tmp_path: Path) -> None:
    cluster = _Failing()
    supervisor = Supervisor(cluster, _NoPlan(), RestartPolicy(3, 0.2, 30.0), tmp_path / "supervisor.log")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "h01" not in supervisor.down:
        supervisor.check()
        time.sleep(0.01)
    assert supervisor.down == {"h01"} and len(cluster.starts) == 4
    gaps = [b - a for a, b in zip(cluster.starts, cluster.starts[1:], strict=False)]
    for gap, backoff in zip(gaps, (0.2, 0.4, 0.8), strict=True):
        assert backoff <= gap < backoff + 1.5, gaps
    assert supervisor.faults[0] == "h01 exited with 1 at step 7; restarted after 0.2 s (1 of 3)"
    assert supervisor.faults[-1] == "h01 exited with 1 at step 7; not restarted: 3 restarts used (network.max_restarts)"
    assert supervisor.outcome([]).failed == ("h01",)
    for child in cluster.procs.values():
        child.popen.wait(timeout=5)
