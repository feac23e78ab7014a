"""The launcher as a supervisor: a process of ``ets run`` that dies or hangs is started again, with backoff.

Like Compose's ``restart: on-failure``. A process that exits non-zero or is killed by a signal, and one
whose heartbeat file (``runtime.health``; the launcher gives every process one) has not changed for
``network.hang_timeout_s`` (it is continued, if stopped, then killed by pid), is started again after
``network.restart_backoff_s``, doubled for each further restart of it, at most ``network.max_restarts``
times (0: never). It resumes from its ledger like any restarted process.

Not restarted: what the chaos plan stopped on purpose (the plan says when it comes back), a process
stopped by SIGINT or SIGTERM (someone meant it), one that exits 2 (it refused its input, or the
coordinator's start barrier timed out: a new start changes nothing), and nodes once the coordinator has
ended the run. Every decision is a line in ``logs/supervisor.log`` and one of ``faults``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from runtime.health import Unhealthy, read_beat
from runtime.params import NetworkParams

INTERRUPTED = (130, -signal.SIGINT, -signal.SIGTERM)
"""Exit statuses of a process stopped by Ctrl-C or SIGTERM (ours handle both and exit 130)."""
REFUSED = 2
"""The exit status of a process that refused its input (or a coordinator whose start barrier timed out)."""
CHECK_INTERVAL_S = 0.5
"""How often heartbeat files are read."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    max_restarts: int
    """Restarts of one process at most (0: none)."""
    backoff_s: float
    """Wait before the first restart of a process (s); doubled for each further one."""
    hang_timeout_s: float
    """A running process whose heartbeat has not changed this long (s) is taken as hung."""

    @classmethod
    def of(cls, network: NetworkParams) -> RestartPolicy:
        return cls(network.max_restarts, network.restart_backoff_s, network.hang_timeout_s)

    def backoff(self, restarts_done: int) -> float:
        return float(self.backoff_s * 2.0**restarts_done)


@dataclass(frozen=True, slots=True)
class ClusterOutcome:
    """How a run that ended (the coordinator sealed every block) went, for the results."""

    faults: tuple[str, ...]
    """One line per fault that no chaos plan asked for: what died or hung, at which step, what was done."""
    failed: tuple[str, ...]
    """Processes down for good at the end (not restarted, restarts used up, or stopped at the end)."""


class Child(Protocol):
    """What the supervisor needs of one process."""

    @property
    def popen(self) -> subprocess.Popen[bytes]: ...

    @property
    def started(self) -> float: ...

    @property
    def heartbeat(self) -> Path | None: ...


class Processes(Protocol):
    """What the supervisor needs of the cluster."""

    def running(self) -> Mapping[str, Child]: ...

    def start(self, name: str) -> None: ...


class Plan(Protocol):
    """What the supervisor needs of the chaos driver."""

    last_step: int

    def planned(self, name: str) -> bool: ...


class Supervisor:
    def __init__(self, cluster: Processes, plan: Plan, policy: RestartPolicy, record: Path) -> None:
        """``record``: ``logs/supervisor.log``, one line per decision."""
        self.cluster = cluster
        self.plan = plan
        self.policy = policy
        self.record = record
        self.faults: list[str] = []
        self.restarts: dict[str, int] = {}
        self.due: dict[str, float] = {}
        """Restarts to come: name -> monotonic time."""
        self.down: set[str] = set()
        """Processes given up on."""
        self.ended = False
        """Set once the coordinator has ended the run: nodes are no longer restarted."""
        self._handled: set[int] = set()
        self._beats: dict[str, tuple[int, float, float]] = {}
        """name -> (pid, beat time written, monotonic time the beat was first seen)."""
        self._quiet_since: dict[str, float] = {}
        self._next_beat_check = 0.0

    def check(self) -> None:
        """Notice what died or hung since the last call; start what is due."""
        now = time.monotonic()
        read_beats = now >= self._next_beat_check
        if read_beats:
            self._next_beat_check = now + CHECK_INTERVAL_S
        for name, child in self.cluster.running().items():
            if name in self.due or self.plan.planned(name):
                self._quiet_since[name] = now  # down or paused on purpose: no heartbeat expected meanwhile
                continue
            status = child.popen.poll()
            if status is None:
                if read_beats:
                    self._check_beat(name, child, now)
            elif status != 0 and child.popen.pid not in self._handled:
                self._handled.add(child.popen.pid)
                self._died(name, f"{name} exited with {status}", status)
        for name, at in list(self.due.items()):
            if at <= now:
                del self.due[name]
                self.cluster.start(name)
                self._log(f"{name} started again (restart {self.restarts[name]})")

    def end_of_run(self) -> None:
        """The coordinator has ended the run: no node is started again."""
        self.ended = True
        for name in list(self.due):
            del self.due[name]
            self.down.add(name)
            self._fault(f"{name}: restart cancelled, the run had ended")

    def overstayed(self, names: list[str], waited_s: float) -> None:
        """Nodes still running ``waited_s`` after the coordinator ended the run (they are stopped)."""
        for name in names:
            self.down.add(name)
            self._fault(f"{name} had not left {waited_s:g} s after the end of the run; stopped")

    def _check_beat(self, name: str, child: Child, now: float) -> None:
        pid = child.popen.pid
        try:
            beat = read_beat(child.heartbeat) if child.heartbeat is not None else None
        except Unhealthy:
            beat = None
        last = self._beats.get(name)
        if beat is not None and beat.pid == pid and (last is None or last[:2] != (pid, beat.time)):
            self._beats[name] = (pid, beat.time, now)
        seen = self._beats[name][2] if name in self._beats and self._beats[name][0] == pid else child.started
        quiet = now - max(seen, child.started, self._quiet_since.get(name, 0.0))
        if quiet <= self.policy.hang_timeout_s:
            return
        child.popen.send_signal(signal.SIGCONT)  # a stopped process is continued, then killed
        child.popen.kill()
        child.popen.wait()
        self._handled.add(pid)
        self._died(name, f"{name} stopped responding (no heartbeat for {quiet:.0f} s)", None, killed=True)

    def _died(self, name: str, what: str, status: int | None, *, killed: bool = False) -> None:
        at = f"{what} at step {self.plan.last_step}" + ("; killed" if killed else "")
        done = self.restarts.get(name, 0)
        limit = self.policy.max_restarts
        reason = ""
        if self.ended and name != "coordinator":
            reason = "the run had ended"
        elif status in INTERRUPTED:
            reason = "stopped by signal"
        elif status == REFUSED:
            reason = "exit 2: it refused its input or its start barrier timed out"
        elif limit == 0:
            reason = "restarts disabled (network.max_restarts = 0)"
        elif done >= limit:
            reason = f"{done} restarts used (network.max_restarts)"
        if reason:
            self.down.add(name)
            self._fault(f"{at}; not restarted: {reason}")
            return
        delay = self.policy.backoff(done)
        self.restarts[name] = done + 1
        self.due[name] = time.monotonic() + delay
        self.down.discard(name)
        self._fault(f"{at}; restarted after {delay:g} s ({done + 1} of {limit})")

    def _fault(self, line: str) -> None:
        self.faults.append(line)
        self._log(line)

    def _log(self, line: str) -> None:
        self.record.parent.mkdir(parents=True, exist_ok=True)
        with self.record.open("a") as f:
            f.write(f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {line}\n")

    def outcome(self, stopped_at_end: list[str]) -> ClusterOutcome:
        return ClusterOutcome(tuple(self.faults), tuple(sorted(self.down | set(stopped_at_end))))
