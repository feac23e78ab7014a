"""A process's heartbeat file and the check a container's health probe runs on it.

A node or coordinator given a heartbeat path rewrites it (atomically) every couple of seconds from its
event loop with its pid, its ledger height and the time. ``ets health`` reads it: healthy while the last
beat is younger than the allowed age, so a process that hangs, crashes or never got going is reported,
not only one that exited.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from chain.errors import EtsError

BEAT_INTERVAL_S = 2.0
DEFAULT_MAX_AGE_S = 30.0


class Unhealthy(EtsError):
    """No heartbeat, an unreadable one, or one older than allowed."""


@dataclass(frozen=True, slots=True)
class Beat:
    pid: int
    height: int
    """Blocks in the process's ledger."""
    time: float
    """When it was written (seconds since the epoch)."""


class Heartbeat:
    """Writes ``path`` at most once per ``interval_s``; does nothing without a path."""

    def __init__(self, path: Path | None, interval_s: float = BEAT_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._last = float("-inf")

    def beat(self, height: int) -> None:
        if self.path is None or time.monotonic() - self._last < self.interval_s:
            return
        self._last = time.monotonic()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "height": height, "time": time.time()}) + "\n")
        os.replace(tmp, self.path)


def read_beat(path: Path) -> Beat:
    try:
        data = json.loads(path.read_text())
        return Beat(int(data["pid"]), int(data["height"]), float(data["time"]))
    except FileNotFoundError as exc:
        raise Unhealthy(f"{path}: no heartbeat yet") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Unhealthy(f"{path}: unreadable heartbeat: {exc}") from exc


def check(path: Path, max_age_s: float = DEFAULT_MAX_AGE_S, now: float | None = None) -> Beat:
    """The last beat, or ``Unhealthy`` when there is none or it is older than ``max_age_s``."""
    beat = read_beat(path)
    age = (time.time() if now is None else now) - beat.time
    if age > max_age_s:
        raise Unhealthy(f"{path}: last heartbeat {age:.0f} s ago (pid {beat.pid}, height {beat.height})")
    return beat
