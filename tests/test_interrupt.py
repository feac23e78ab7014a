"""Ctrl-C during a run: every process of the cluster exits promptly, none is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_params


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("launcher_ignores_sigint", [False, True], ids=["sigint", "sigint-ignored-by-launcher"])
def test_ctrl_c_ends_every_process(tmp_path: Path, launcher_ignores_sigint: bool) -> None:
    """Ctrl-C is an interruption, whether the launcher sees it (KeyboardInterrupt) or only its processes
    do (a launcher started with SIGINT ignored, as a shell's background job is: every process exits 130)."""
    params = write_params(tmp_path / "p.json", {"simulation": {"steps": 400}})
    launcher = subprocess.Popen(
        [sys.executable, "-m", "ets", "run", "--params", str(params), "--results", str(tmp_path / "r"), "--quiet"],
        start_new_session=True,  # its own process group, as a terminal's foreground job would be
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=ignore_sigint if launcher_ignores_sigint else None,
    )
    cluster: list[int] = []
    try:
        deadline = time.monotonic() + 60
        ledger = None
        while time.monotonic() < deadline:
            ledgers = list((tmp_path / "r").glob("sim_*/ledgers/coordinator.ledger"))
            if ledgers and ledgers[0].stat().st_size > 2000:
                ledger = ledgers[0]
                break
            time.sleep(0.1)
        assert ledger is not None, "the run never got going"
        cluster = children_of(launcher.pid)
        assert len(cluster) == 6  # coordinator + 5 nodes
        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        launcher.wait(timeout=20)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in cluster):
            time.sleep(0.05)
        assert not [p for p in cluster if alive(p)]
        assert launcher.returncode == 130
        output = launcher.stdout.read().decode() if launcher.stdout else ""
        assert "interrupted: every process was stopped" in output
        assert "failed" not in output and "exit 130" not in output
        for log in ledger.parent.parent.glob("logs/*.log"):
            text = log.read_text()
            assert "Traceback" not in text, log
            assert "stopped by signal" in text, log
    finally:
        for pid in [launcher.pid, *cluster]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        launcher.wait(timeout=5)
