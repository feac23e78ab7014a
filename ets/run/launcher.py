"""``ets run``: a local cluster of real processes - one coordinator, one node per household.

The launcher writes keys and genesis, starts the coordinator, waits for the endpoints it bound, starts
the nodes, shows progress by listening to the coordinator's publisher like any other subscriber, and
ends every process it started by its pid (on success, on error, on Ctrl-C, SIGTERM and SIGHUP). It
supervises them: what dies or hangs is started again (``ets.run.supervisor``); every process it starts leaves
the moment the launcher ends, however it ends (``runtime.parent``). With ``--chaos`` it kills, pauses,
restarts and late-starts processes as the steps open (see ``ets.chaos``).
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import zmq

from chain import codec
from chain.crypto import SigningKey
from chain.errors import EtsError
from chain.genesis import Genesis
from ets.chaos.driver import ChaosDriver
from ets.chaos.spec import Fault
from ets.run.cluster import STOP_GRACE_S, Cluster, ClusterError, Proc, precompile, stop_all
from ets.run.layout import RunLayout
from ets.run.supervisor import INTERRUPTED, ClusterOutcome, RestartPolicy, Supervisor
from runtime.curve import CurveIdentity
from runtime.params import Params
from runtime.sockets import configure, probe


def run_cluster(
    run_dir: Path,
    genesis: Genesis,
    on_block: Callable[[int], None] | None = None,
    on_block_raw: Callable[[bytes], None] | None = None,
    *,
    secure: bool = False,
    chaos: tuple[Fault, ...] = (),
    on_idle: Callable[[], None] | None = None,
) -> ClusterOutcome:
    """Start the coordinator and a node per household for a prepared run directory; wait for the end.

    ``on_block`` gets the height of each block the coordinator publishes, ``on_block_raw`` its signed
    envelope as published (for the live view); ``on_idle`` is called whenever every message that had
    arrived has been passed on, and at least every 0.1 s (the live view redraws then). ``chaos`` faults
    are injected as the steps open. What dies or hangs otherwise is restarted (``ets.run.supervisor``).

    Returns the faults once the coordinator has ended the run (households that failed for good are
    absent from the blocks meanwhile); raises ``ClusterError`` (with the faults) if the coordinator
    failed for good, ``KeyboardInterrupt`` on Ctrl-C, SIGTERM or SIGHUP. Every process is ended before
    this returns. Call it from the thread that stays until the end: on Linux the processes it starts
    leave when that thread ends.
    """
    precompile()
    cluster = Cluster(run_dir, genesis, secure)
    driver = ChaosDriver(chaos, cluster, cluster.layout.log("chaos") if chaos else None)
    policy = RestartPolicy.of(Params.load(cluster.layout.params).network)
    supervisor = Supervisor(cluster, driver, policy, cluster.layout.log("supervisor"))
    with _interruptions():
        try:
            endpoints = cluster.start_coordinator()
            for hid in genesis.household_ids:
                cluster.add_node(hid)
                if hid not in driver.held_back:
                    cluster.start(hid)
            stopped = _watch(cluster, driver, supervisor, endpoints["pub"], on_block, on_block_raw, on_idle)
            if cluster.coordinator.popen.returncode == 0:
                return supervisor.outcome(stopped)
            failed = [p for p in cluster.all() if p.popen.returncode != 0 and p.name not in driver.crashed]
            error = failure(failed, cluster.layout)
            if isinstance(error, ClusterError):
                error.faults, error.failed = tuple(supervisor.faults), tuple(p.name for p in failed)
            raise error
        finally:
            stop_all(cluster.all())


@contextlib.contextmanager
def _interruptions() -> Iterator[None]:
    """SIGTERM and SIGHUP handled like Ctrl-C (a ``KeyboardInterrupt``, once; the stop that follows is not
    interrupted again). Only the main thread can set handlers: elsewhere nothing changes."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if not caught:
            caught.append(signum)
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def last_error(log: Path) -> str:
    """The reason a process gave in its log: its last ERROR line, else its last line (a traceback's)."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    errors = [line.split(" ERROR ", 1)[1] for line in lines if " ERROR " in line]
    reason = errors[-1] if errors else (lines[-1] if lines else "")
    return reason if len(reason) <= 300 else reason[:297] + "..."


def failure(failed: list[Proc], layout: RunLayout) -> BaseException:
    """What to raise for processes that ended badly: ``KeyboardInterrupt`` when every one of them was
    stopped by a signal (Ctrl-C reaches every process of the terminal's group, and the launcher may have
    been started with SIGINT ignored), else a ``ClusterError`` that names the processes that failed first,
    with the reason each wrote in its log (the others were stopped because of them)."""
    if all(p.popen.returncode in INTERRUPTED for p in failed):
        return KeyboardInterrupt()
    first = [p for p in failed if p.popen.returncode not in INTERRUPTED]
    parts = []
    for p in first:
        reason = last_error(p.log)
        if reason.startswith("start barrier"):
            reason += f" within network.start_timeout_s ({_start_timeout(layout)} s; raise it on a loaded machine)"
        parts.append(f"{p.name} exited with {p.popen.returncode}" + (f": {reason}" if reason else "") + f" ({p.log})")
    stopped = len(failed) - len(first)
    tail = f"; {stopped} other process(es) were stopped" if stopped else ""
    return ClusterError("; ".join(parts) + tail)


def _start_timeout(layout: RunLayout) -> str:
    try:
        return f"{json.loads(layout.params.read_text())['network']['start_timeout_s']:g}"
    except (OSError, ValueError, KeyError, TypeError):
        return "?"


def _watch(
    cluster: Cluster,
    driver: ChaosDriver,
    supervisor: Supervisor,
    pub: str,
    on_block: Callable[[int], None] | None,
    on_block_raw: Callable[[bytes], None] | None,
    on_idle: Callable[[], None] | None = None,
) -> list[str]:
    """Wait for the end, reporting block heights, driving faults from the steps announced and restarting
    what dies or hangs; returns the nodes stopped because they had not left in time after the end.

    If the coordinator fails for good, the nodes are stopped rather than left to time out. Once it has
    ended the run, the nodes get ``network.end_timeout_s`` and ``STOP_GRACE_S`` to leave.
    """
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    configure(sub)
    probe(sub)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    if cluster.secure:
        key = SigningKey.load(cluster.layout.key("coordinator"))
        CurveIdentity.of(key, ()).connect_to(sub, cluster.genesis.coordinator_key)
    sub.connect(pub)
    end_wait_s = Params.load(cluster.layout.params).network.end_timeout_s + STOP_GRACE_S
    ended_at: float | None = None
    try:
        while True:
            supervisor.check()
            status = cluster.coordinator.popen.poll()
            running = [p.name for p in cluster.all() if p.popen.poll() is None]
            if status == 0 and ended_at is None:
                ended_at = time.monotonic()
                supervisor.end_of_run()
            if ended_at is not None:
                if not running:
                    return []
                if time.monotonic() - ended_at > end_wait_s:
                    late = [n for n in running if not driver.planned(n)]
                    supervisor.overstayed(late, end_wait_s)
                    stop_all(cluster.all())
                    return late
            elif status is not None and not driver.holding("coordinator") and "coordinator" not in supervisor.due:
                stop_all(cluster.all())
                return []
            else:
                driver.tick()
            if on_idle is not None:
                on_idle()
            if sub.poll(100):
                _receive(sub, driver, on_block, on_block_raw)
    finally:
        sub.close(linger=0)
        ctx.term()


def _receive(
    sub: zmq.Socket[bytes],
    driver: ChaosDriver,
    on_block: Callable[[int], None] | None,
    on_block_raw: Callable[[bytes], None] | None,
) -> None:
    """Pass on every message waiting: steps to the chaos driver, blocks to the callbacks."""
    while True:
        try:
            raw = sub.recv(zmq.NOBLOCK)
        except zmq.Again:
            return
        kind, number = _progress_of(raw)
        if kind == "step":
            driver.step_opened(number)
        elif kind == "block":
            if on_block is not None:
                on_block(number)
            if on_block_raw is not None:
                on_block_raw(raw)


def _progress_of(raw: bytes) -> tuple[str, int]:
    """("block", height) or ("step", step) of a published message, read without verification (progress only)."""
    try:
        _, kind, _, payload, _ = codec.unpack(raw)
        fields = codec.unpack(payload)
        if kind == "block":
            return "block", int(fields[1])
        if kind == "step":
            return "step", int(fields[1])
    except (EtsError, ValueError, TypeError, IndexError):
        pass
    return "", -1
