"""``ets run``: a local cluster of real processes - one coordinator, one node per household.

The launcher writes keys and genesis, starts the coordinator, waits for the endpoints it bound, starts
the nodes, shows progress by listening to the coordinator's publisher like any other subscriber, and
ends every process it started by its pid (on success, on error and on Ctrl-C).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq

from chain import codec
from chain.errors import EtsError
from chain.genesis import Genesis
from ets.envvars import OPTION_VARIABLES
from ets.setup import RunLayout
from ets.sockets import configure

ENDPOINTS_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0


class ClusterError(EtsError):
    """A process of the cluster failed; the message names it and its log."""


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ets", *args]


def child_environment() -> dict[str, str]:
    """This process's environment without the variables that set a node's or coordinator's options: the
    launcher gives every child its settings as flags, and a key or ledger left in the shell must not reach
    them all."""
    return {k: v for k, v in os.environ.items() if k not in OPTION_VARIABLES}


def _spawn(name: str, args: list[str], log: Path) -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_environment()
        )
    return Proc(name, popen, log)


def stop_all(procs: list[Proc], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM each process still running (by pid), then SIGKILL what is left after ``grace_s``."""
    for p in procs:
        if p.popen.poll() is None:
            p.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.popen.wait()


def _wait_for_endpoints(layout: RunLayout, coordinator: Proc) -> dict[str, str]:
    deadline = time.monotonic() + ENDPOINTS_TIMEOUT_S
    while time.monotonic() < deadline:
        if layout.endpoints.exists():
            data: dict[str, str] = json.loads(layout.endpoints.read_text())
            return data
        if coordinator.popen.poll() is not None:
            raise ClusterError(f"coordinator exited with {coordinator.popen.returncode}; see {coordinator.log}")
        time.sleep(0.05)
    raise ClusterError(
        f"coordinator did not report its endpoints within {ENDPOINTS_TIMEOUT_S} s; see {coordinator.log}"
    )


def run_cluster(run_dir: Path, genesis: Genesis, on_block: Callable[[int], None] | None = None) -> None:
    """Start the coordinator and a node per household for a prepared run directory; wait for the end.

    Raises ``ClusterError`` if any process fails; every process is ended before this returns.
    """
    layout = RunLayout(run_dir)
    host = "127.0.0.1"
    procs: list[Proc] = []
    try:
        coordinator = _spawn(
            "coordinator",
            _command(
                "coordinator",
                "--run-dir",
                str(run_dir),
                "--router-bind",
                f"tcp://{host}:*",
                "--pub-bind",
                f"tcp://{host}:*",
                "--exit-with-parent",
            ),
            layout.log("coordinator"),
        )
        procs.append(coordinator)
        endpoints = _wait_for_endpoints(layout, coordinator)
        for hid in genesis.household_ids:
            args = _command(
                "node",
                "--run-dir",
                str(run_dir),
                "--household",
                hid,
                "--router",
                endpoints["router"],
                "--pub",
                endpoints["pub"],
                "--gossip-bind",
                f"tcp://{host}:*",
                "--exit-with-parent",
            )
            procs.append(_spawn(hid, args, layout.log(hid)))
        _watch(procs, endpoints["pub"], on_block)
        failed = [p for p in procs if p.popen.returncode != 0]
        if failed:
            names = ", ".join(f"{p.name} (exit {p.popen.returncode}, log {p.log})" for p in failed)
            raise ClusterError(f"process(es) failed: {names}")
    finally:
        stop_all(procs)


def _watch(procs: list[Proc], pub: str, on_block: Callable[[int], None] | None) -> None:
    """Wait for every process to end, reporting block heights from the coordinator's publisher.

    If the coordinator fails, the nodes are stopped rather than left to time out.
    """
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    configure(sub)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(pub)
    try:
        while any(p.popen.poll() is None for p in procs):
            if procs[0].popen.poll() not in (None, 0):
                stop_all(procs[1:])
                return
            if sub.poll(100):
                while True:
                    try:
                        raw = sub.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    height = _block_height(raw)
                    if height is not None and on_block is not None:
                        on_block(height)
    finally:
        sub.close(linger=0)
        ctx.term()


def _block_height(raw: bytes) -> int | None:
    """The height of a published block, read without verification (progress display only)."""
    try:
        _, kind, _, payload, _ = codec.unpack(raw)
        if kind != "block":
            return None
        height = codec.unpack(payload)[1]
        return int(height)
    except (EtsError, ValueError, TypeError, IndexError):
        return None
