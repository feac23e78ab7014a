"""Carrying out a fault plan on a local cluster, by pid, as the coordinator announces the steps."""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ets.chaos.spec import FLOODS, Action, Fault

log = logging.getLogger("ets.chaos")


class Processes(Protocol):
    """What the driver needs of the cluster: start, kill and signal a process by name."""

    def start(self, name: str) -> None: ...

    def kill(self, name: str) -> None: ...

    def send_signal(self, name: str, signum: signal.Signals) -> None: ...

    def flood(self, fault: Fault) -> None:
        """Start the flood ``fault`` names (it ends by itself after ``fault.after_s``)."""
        ...


@dataclass
class _Ending:
    fault: Fault
    at_time: float | None


class ChaosDriver:
    def __init__(self, faults: tuple[Fault, ...], cluster: Processes, record: Path | None = None) -> None:
        """``record``: a file that gets one line per action taken (time, what)."""
        self.waiting = list(faults)
        self.record = record
        self.cluster = cluster
        self.endings: list[_Ending] = []
        self.last_step = 0
        self.held_back = frozenset(f.target for f in faults if f.action is Action.LATE)
        """Households not started with the others."""
        self.crashed = frozenset(f.target for f in faults if f.action is Action.CRASH)
        """Processes killed for good: their exit status is no failure."""
        self.done: list[tuple[float, str]] = []
        """(monotonic time, what was done) for every action taken."""

    @property
    def pending(self) -> bool:
        """True while a timed end (restart, continue) is still to come."""
        return any(e.at_time is not None for e in self.endings)

    def holding(self, name: str) -> bool:
        """True while ``name`` is down or paused on purpose."""
        return any(e.fault.target == name for e in self.endings)

    def planned(self, name: str) -> bool:
        """True while ``name`` is down or paused on purpose, or crashed for good: not a fault."""
        return name in self.crashed or self.holding(name)

    def step_opened(self, step: int) -> None:
        """Carry out what is due when ``step`` opens (and any step skipped since the last call)."""
        for s in range(self.last_step + 1, step + 1):
            for ending in [e for e in self.endings if e.fault.until_step == s]:
                self._end(ending)
            for fault in [f for f in self.waiting if f.at_step == s]:
                self.waiting.remove(fault)
                self._begin(fault)
        self.last_step = max(self.last_step, step)

    def tick(self) -> None:
        """Carry out the timed ends that are due."""
        now = time.monotonic()
        for ending in [e for e in self.endings if e.at_time is not None and e.at_time <= now]:
            self._end(ending)

    def _record(self, what: str) -> None:
        log.warning("chaos: %s", what)
        self.done.append((time.monotonic(), what))
        if self.record is not None:
            with self.record.open("a") as f:
                f.write(f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {what}\n")

    def _begin(self, f: Fault) -> None:
        name = f.target
        if f.action in FLOODS:
            self.cluster.flood(f)
            self._record(f"{f.action.value} at {name} for {f.after_s:g} s, from step {f.at_step}")
            return
        if f.action is Action.LATE:
            self.cluster.start(name)
            self._record(f"started {name} late, at step {f.at_step}")
            return
        if f.action is Action.PAUSE:
            self.cluster.send_signal(name, signal.SIGSTOP)
            self._record(f"paused {name} at step {f.at_step}")
        else:
            self.cluster.kill(name)
            self._record(f"killed {name} at step {f.at_step}")
        if f.action is Action.CRASH:
            return
        at_time = time.monotonic() + f.after_s if f.after_s is not None else None
        ending = _Ending(f, at_time)
        if f.action is Action.KILL and f.until_step is None and f.after_s is None:
            self._end(ending, registered=False)
        else:
            self.endings.append(ending)

    def _end(self, ending: _Ending, *, registered: bool = True) -> None:
        if registered:
            self.endings.remove(ending)
        name = ending.fault.target
        if ending.fault.action is Action.PAUSE:
            self.cluster.send_signal(name, signal.SIGCONT)
            self._record(f"continued {name}")
        else:
            self.cluster.start(name)
            self._record(f"restarted {name}")
