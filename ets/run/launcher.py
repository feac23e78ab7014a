"""``ets run``: a local cluster of real processes - one coordinator, one node per household.

The launcher writes keys and genesis, starts the coordinator, waits for the endpoints it bound, starts
the nodes, shows progress by listening to the coordinator's publisher like any other subscriber, and
ends every process it started by its pid (on success, on error, on Ctrl-C, SIGTERM and SIGHUP). It
supervises them: what dies or hangs is started again (``ets.run.supervisor``); every process it starts leaves
the moment the launcher ends, however it ends (``runtime.parent``). With ``--chaos`` it kills, pauses,
restarts and late-starts processes as the steps open (see ``ets.chaos``).
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import zmq

from chain import codec
from chain.crypto import SigningKey
from chain.errors import EtsError
from chain.genesis import Genesis
from ets.chaos.driver import ChaosDriver
from ets.chaos.spec import Fault
from ets.run.layout import RunLayout
from ets.run.supervisor import INTERRUPTED, ClusterOutcome, RestartPolicy, Supervisor
from runtime.curve import CurveIdentity
from runtime.envvars import LAUNCHER_PID, OPTION_VARIABLES
from runtime.params import Params
from runtime.sockets import configure, probe

ENDPOINTS_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0


class ClusterError(EtsError):
    """A process of the cluster failed; the message names it and its log. ``faults`` and ``failed``: as in
    ``ClusterOutcome``, for the results of the run that could not complete."""

    def __init__(self, message: str, faults: tuple[str, ...] = (), failed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.faults = faults
        self.failed = failed


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    heartbeat: Path | None = None
    started: float = field(default_factory=time.monotonic)
    """When it was started (monotonic)."""


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ets", *args]


def child_environment() -> dict[str, str]:
    """This process's environment without the variables that set a node's or coordinator's options: the
    launcher gives every child its settings as flags, and a key or ledger left in the shell must not reach
    them all."""
    return {k: v for k, v in os.environ.items() if k not in OPTION_VARIABLES}


def _spawn(name: str, args: list[str], log: Path, heartbeat: Path) -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    heartbeat.parent.mkdir(parents=True, exist_ok=True)
    env = child_environment() | {LAUNCHER_PID: str(os.getpid())}
    with log.open("ab") as out:
        popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return Proc(name, popen, log, heartbeat)


def stop_all(procs: list[Proc], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM each process still running (by pid; paused ones are continued first), then SIGKILL what
    is left after ``grace_s``."""
    for p in procs:
        if p.popen.poll() is None:
            p.popen.send_signal(signal.SIGCONT)
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


class Cluster:
    """The processes of a local run by name, each one restartable with the arguments it first had.

    The coordinator is restarted on the endpoints it bound first, so the nodes' connections find it again.
    """

    def __init__(self, run_dir: Path, genesis: Genesis, secure: bool, host: str = "127.0.0.1") -> None:
        self.run_dir = run_dir
        self.layout = RunLayout(run_dir)
        self.genesis = genesis
        self.secure = secure
        self.host = host
        self.procs: dict[str, Proc] = {}
        self.args: dict[str, list[str]] = {}
        self.endpoints: dict[str, str] = {}

    @property
    def coordinator(self) -> Proc:
        return self.procs["coordinator"]

    def all(self) -> list[Proc]:
        return list(self.procs.values())

    def running(self) -> dict[str, Proc]:
        """The processes started so far, by name (what the supervisor watches)."""
        return dict(self.procs)

    def _security(self) -> str:
        return "--secure" if self.secure else "--no-secure"

    def _common(self, name: str) -> list[str]:
        heartbeat = str(self.layout.heartbeat(name))
        return ["--run-dir", str(self.run_dir), self._security(), "--exit-with-parent", "--heartbeat", heartbeat]

    def start_coordinator(self) -> dict[str, str]:
        host = self.host
        common = self._common("coordinator")
        self.layout.endpoints.unlink(missing_ok=True)  # a resumed run's, from its last coordinator
        self.args["coordinator"] = _command(
            "coordinator", "--router-bind", f"tcp://{host}:*", "--pub-bind", f"tcp://{host}:*", *common
        )
        self.start("coordinator")
        self.endpoints = _wait_for_endpoints(self.layout, self.coordinator)
        self.args["coordinator"] = _command(
            "coordinator", "--router-bind", self.endpoints["router"], "--pub-bind", self.endpoints["pub"], *common
        )
        return self.endpoints

    def add_node(self, hid: str) -> None:
        host, ep = self.host, self.endpoints
        self.args[hid] = _command(
            "node",
            "--household",
            hid,
            "--router",
            ep["router"],
            "--pub",
            ep["pub"],
            "--gossip-bind",
            f"tcp://{host}:*",
            "--sync-bind",
            f"tcp://{host}:*",
            *self._common(hid),
        )

    def start(self, name: str) -> None:
        self.procs[name] = _spawn(name, self.args[name], self.layout.log(name), self.layout.heartbeat(name))

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` by pid and reap it."""
        p = self.procs[name]
        if p.popen.poll() is None:
            p.popen.kill()
            p.popen.wait()

    def send_signal(self, name: str, signum: signal.Signals) -> None:
        p = self.procs[name]
        if p.popen.poll() is None:
            p.popen.send_signal(signum)


def precompile() -> None:
    """Write the bytecode of what the cluster's processes import once, so a hundred processes do not each
    compile it.

    Where the environment forbids writing bytecode (``PYTHONDONTWRITEBYTECODE``) every process would
    otherwise compile every module it imports (0.5 s per node, 2.6 s for the coordinator). The project's
    packages are compiled whole; of the installed packages, the modules a node and the coordinator import
    (those this process has imported once it has imported theirs), so the install itself need not compile
    everything (``uv``'s ``compile-bytecode`` recompiled the whole environment on every ``uv run``).
    Files already compiled are only checked; a read-only install is left as it is.
    """
    import importlib

    root = Path(__file__).resolve().parents[2]
    for package in ("chain", "coordinator", "ets", "node", "optimizer", "runtime"):
        with contextlib.suppress(OSError):
            compileall.compile_dir(root / package, quiet=2, workers=1)
    for entry in ("node.service", "coordinator.service"):
        importlib.import_module(entry)
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if isinstance(source, str) and source.endswith(".py"):
            with contextlib.suppress(OSError, SyntaxError, ValueError):
                compileall.compile_file(source, quiet=2)


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
