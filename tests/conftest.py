"""Shared fixtures: small parameter files, CLI invocation, and one real cluster run per session."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ets.cli import main

SMALL = {
    "simulation": {"steps": 12, "start_step": 11_424 + 40},
    "household": {"max_households": 5},
    "forecaster": {"horizon_steps": 16},
    "network": {"offer_timeout_s": 20.0, "start_timeout_s": 60.0, "peer_timeout_s": 60.0},
}


def write_params(path: Path, overrides: dict[str, dict[str, Any]] | None = None) -> Path:
    tree: dict[str, dict[str, Any]] = {k: dict(v) for k, v in SMALL.items()}
    for group, values in (overrides or {}).items():
        tree.setdefault(group, {}).update(values)
    path.write_text(json.dumps(tree))
    return path


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rss_mb(pid: int) -> float:
    """A process's resident memory (MB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class PeakRss:
    """The resident memory (MB) of processes by name: ``before`` when made, ``peak`` sampled every
    ``interval_s`` in a thread between ``start`` and ``stop``."""

    def __init__(self, pids: dict[str, int], interval_s: float) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.before = {name: rss_mb(pid) for name, pid in pids.items()}
        self.peak = dict(self.before)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self._stopped.is_set():
            for name, pid in self.pids.items():
                with contextlib.suppress(OSError, AssertionError):
                    self.peak[name] = max(self.peak[name], rss_mb(pid))
            self._stopped.wait(self.interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def growth(self) -> dict[str, float]:
        return {name: self.peak[name] - self.before[name] for name in self.pids}


def household_pid(household: str) -> int:
    """The pid of the node process of ``household`` among this test process's children."""
    for pid in child_pids():
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--household" in args and args[args.index(b"--household") + 1] == household.encode():
            return pid
    raise AssertionError(f"no process for {household}")


def wait_for(what: str, check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def child_pids() -> list[int]:
    """Live (non-zombie) processes whose parent is this test process."""
    me = os.getpid()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def ledger_beside(run: Path, target: Path, records: list[bytes] | None = None) -> Path:
    """A run directory at ``target`` with ``run``'s genesis and parameters and a coordinator ledger of
    ``records`` (none: an empty directory for it); returns the ledger's path."""
    from chain.ledger import Ledger

    (target / "ledgers").mkdir(parents=True, exist_ok=True)
    for name in ("genesis.json", "params.json"):
        (target / name).write_bytes((run / name).read_bytes())
    path = target / "ledgers" / "coordinator.ledger"
    if records is not None:
        with Ledger.open(path) as ledger:
            for raw in records:
                ledger.append(raw)
    return path


def only_run_dir(results: Path) -> Path:
    dirs = sorted(results.glob("sim_*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.fixture(scope="session")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real distributed run: a coordinator and 4 node processes over loopback ZeroMQ."""
    root = tmp_path_factory.mktemp("cluster")
    params = write_params(root / "params.json")
    before = set(child_pids())
    result = cli("run", "--params", str(params), "--results", str(root / "results"), "--quiet")
    assert result.exit_code == 0, result.output
    assert set(child_pids()) - before == set(), "the launcher left processes running"
    yield only_run_dir(root / "results")


@pytest.fixture(scope="session")
def engine_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same inputs through the in-process engine."""
    root = tmp_path_factory.mktemp("engine")
    params = write_params(root / "params.json")
    result = cli("simulate", "--params", str(params), "--results", str(root / "results"), "--quiet")
    assert result.exit_code == 0, result.output
    return only_run_dir(root / "results")
