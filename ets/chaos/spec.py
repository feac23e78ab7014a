"""The fault plan of ``ets run --chaos``: parsing and checking, free of I/O.

A plan is a comma-separated list of ``ACTION:TARGET@WHEN``; TARGET is a household id or
``coordinator``; WHEN is a step ``S`` (the fault happens when step ``S`` opens), optionally with an
end: ``S-E`` (when step ``E`` opens) or ``S+Ns`` (``N`` seconds later).

* ``kill:T@S``       SIGKILL, then start it again at once (``S-E``/``S+Ns``: start it again then).
* ``crash:T@S``      SIGKILL, never started again (households only).
* ``pause:T@S-E``    SIGSTOP, then SIGCONT at the end (``S+Ns`` for the coordinator: no step opens
                     while it is paused).
* ``late:T@S``       start the household only when step ``S`` opens (needs ``network.start_quorum`` < 1).
* ``big_flood:T@S+Ns``    for ``N`` seconds, ~1 MiB forged frames from 8 connections at once, each made
                     again every 50 frames, at the coordinator's ROUTER (``T`` = ``coordinator``) or at a
                     household's catch-up server (``ets.chaos.flood.big_flood``).
* ``hello_flood:T@S+Ns``  for ``N`` seconds, hellos signed with household ``T``'s key, each naming new
                     endpoints, 500 a second (``ets.chaos.flood.hello_flood``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from chain.errors import InputError

COORDINATOR = "coordinator"
_ITEM = re.compile(
    r"^(?P<action>[a-z_]+):(?P<target>[^@\s]+)@(?P<at>\d+)"
    r"(?:-(?P<until>\d+)|\+(?P<secs>\d+(?:\.\d+)?)s)?$"
)


class Action(Enum):
    KILL = "kill"
    CRASH = "crash"
    PAUSE = "pause"
    LATE = "late"
    BIG_FLOOD = "big_flood"
    HELLO_FLOOD = "hello_flood"


FLOODS = frozenset({Action.BIG_FLOOD, Action.HELLO_FLOOD})
"""Actions that flood a process rather than stop it."""


@dataclass(frozen=True, slots=True)
class Fault:
    action: Action
    target: str
    """A household id or ``coordinator``."""
    at_step: int
    """The fault happens when this step opens."""
    until_step: int | None = None
    """It ends (restart, continue) when this step opens."""
    after_s: float | None = None
    """Or it ends this many seconds after it began."""

    @property
    def text(self) -> str:
        end = f"-{self.until_step}" if self.until_step is not None else ""
        end += f"+{self.after_s:g}s" if self.after_s is not None else ""
        return f"{self.action.value}:{self.target}@{self.at_step}{end}"


def known_ids(households: Sequence[str], shown: int = 12) -> str:
    """The ids for a message: all of them, or the first and last few of a large community."""
    if len(households) <= shown:
        return ", ".join(households)
    half = shown // 2
    return f"{', '.join(households[:half])}, ..., {', '.join(households[-half:])} ({len(households)} in all)"


def parse_chaos(spec: str, households: Sequence[str], steps: int) -> tuple[Fault, ...]:
    """The faults of ``spec`` for a run of ``steps`` steps; ``InputError`` names the first bad item."""
    faults = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        faults.append(_parse_item(item, households, steps))
    return tuple(sorted(faults, key=lambda f: f.at_step))


def _parse_item(item: str, households: Sequence[str], steps: int) -> Fault:
    m = _ITEM.match(item)
    if m is None:
        example = f"kill:{households[0] if households else 'h01'}@20"
        raise InputError(f"--chaos {item!r}: expected ACTION:TARGET@STEP[-STEP|+SECONDSs], e.g. {example}")
    try:
        action = Action(m["action"])
    except ValueError:
        names = ", ".join(a.value for a in Action)
        raise InputError(f"--chaos {item!r}: unknown action {m['action']!r} (one of {names})") from None
    target = m["target"]
    if target != COORDINATOR and target not in households:
        raise InputError(
            f"--chaos {item!r}: {target!r} is neither a household of this run nor 'coordinator' "
            f"(its households: {known_ids(households)})"
        )
    at = int(m["at"])
    until = int(m["until"]) if m["until"] is not None else None
    secs = float(m["secs"]) if m["secs"] is not None else None
    if not 1 <= at <= steps:
        raise InputError(f"--chaos {item!r}: step {at} is outside the run's steps 1..{steps}")
    if until is not None and not at < until <= steps:
        raise InputError(f"--chaos {item!r}: the end step must come after {at} and within {steps}")
    fault = Fault(action, target, at, until, secs)
    _check_action(item, fault)
    return fault


def _check_action(item: str, f: Fault) -> None:
    ends = f.until_step is not None or f.after_s is not None
    on_coordinator = f.target == COORDINATOR
    if f.action in FLOODS and f.after_s is None:
        raise InputError(f"--chaos {item!r}: a flood lasts +SECONDSs")
    if f.action is Action.HELLO_FLOOD and on_coordinator:
        raise InputError(f"--chaos {item!r}: a hello flood signs with a household's key; name the household")
    if f.action is Action.PAUSE and not ends:
        raise InputError(f"--chaos {item!r}: a pause needs an end (-STEP or +SECONDSs)")
    if f.action in (Action.CRASH, Action.LATE) and ends:
        raise InputError(f"--chaos {item!r}: {f.action.value} takes a step only")
    if on_coordinator and f.action in (Action.CRASH, Action.LATE):
        raise InputError(f"--chaos {item!r}: the coordinator can be killed or paused, not {f.action.value}")
    if on_coordinator and f.until_step is not None:
        raise InputError(f"--chaos {item!r}: no step opens while the coordinator is down; give +SECONDSs")
