"""The processes of a local cluster by name: started with their arguments and logs, each one restartable,
stopped by pid; and the bytecode they import compiled once for all of them."""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chain.crypto import SigningKey
from chain.errors import EtsError
from chain.genesis import Genesis
from ets.chaos.flood import big_flood, hello_flood
from ets.chaos.spec import Action, Fault
from ets.run.layout import RunLayout
from runtime.envvars import LAUNCHER_PID, OPTION_VARIABLES

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

    def flood(self, fault: Fault) -> None:
        """Start a flood of the chaos plan in a thread of its own (``ets.chaos.flood``)."""
        seconds = fault.after_s or 0.0
        target = fault.target
        if fault.action is Action.HELLO_FLOOD:
            key = SigningKey.load(self.layout.key(target))
            count = int(seconds * 500)
            router = self.endpoints["router"]

            def run() -> None:
                hello_flood(router, self.genesis, key, target, count, every_s=0.002)
        else:
            endpoint = self.endpoints["router"]
            if target != "coordinator":
                found = re.findall(r"sync (tcp://\S+)", self.layout.log(target).read_text(errors="replace"))
                if not found:
                    return
                endpoint = found[-1]
            signers = [m.public_key for m in self.genesis.members]

            def run() -> None:
                big_flood(endpoint, seconds=seconds, signers=signers)

        threading.Thread(target=run, daemon=True, name=f"chaos {fault.text}").start()


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
