"""Counting what the network sends that is not valid, without letting it cost memory, time or log space.

Every bad frame is counted by reason. A connection (a ROUTER identity) that sent a bad frame (one that
does not decode, is not signed by a key genesis names or whose signature fails) is skipped for
``penalty_s`` (1 s): its frames are dropped unread, without a signature check, so a flood of forged frames
costs its sender a new connection per frame checked, not the receiver a check per frame. One that sends
more than ``max_bad`` bad frames is ignored from then on. What an honest peer may send (a replay after a
restart, a stale message, a hello sooner than the rate allows) is counted but never held against its
connection. Warnings are logged for the first few drops, then summed up at most every ``summary_s``
seconds. Every table here is bounded, so a flood of new connections cannot grow it without end.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

from chain.errors import RateError, ReplayError

MAX_TRACKED = 10_000
"""Connections whose bad frames are tracked; beyond this the oldest entries are forgotten."""
LOGGED_INDIVIDUALLY = 20
PENALTY_S = 1.0
"""How long a connection that sent a bad frame is skipped (s)."""
V = TypeVar("V")


@dataclass
class Drops:
    log: logging.Logger
    max_bad: int
    summary_s: float = 5.0
    penalty_s: float = PENALTY_S
    total: int = 0
    ignored: int = 0
    """Frames not even decoded because their connection was skipped or ignored."""
    reasons: Counter[str] = field(default_factory=Counter)
    _bad: dict[bytes, int] = field(default_factory=dict)
    _ignored_peers: dict[bytes, None] = field(default_factory=dict)
    _skipped_until: dict[bytes, float] = field(default_factory=dict)
    _unlogged: int = 0
    _last_summary: float = 0.0

    def ignoring(self, peer: bytes) -> bool:
        """True when frames from ``peer`` are to be dropped unread (it is counted)."""
        if peer in self._ignored_peers or self._skipping(peer):
            self.ignored += 1
            self.total += 1
            self._maybe_summarise()
            return True
        return False

    def _skipping(self, peer: bytes) -> bool:
        until = self._skipped_until.get(peer)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self._skipped_until[peer]
        return False

    def drop(self, where: str, exc: Exception, peer: bytes | None = None) -> None:
        """Count one bad frame; skip ``peer`` for a while, and ignore it once it has sent too many.

        A replay (a duplicate, a stale message: what an honest peer may send after a restart or a
        repeated announcement) or a message sooner than its rate allows is counted but does not bring its
        connection closer to being skipped or ignored.
        """
        self.total += 1
        self.reasons[type(exc).__name__] += 1
        if peer is not None and not isinstance(exc, ReplayError | RateError):
            n = self._bad.pop(peer, 0) + 1
            if n >= self.max_bad:
                _bounded_put(self._ignored_peers, peer, None)
                self.log.warning("ignoring a connection on %s after %d bad frames", where, n)
            else:
                _bounded_put(self._bad, peer, n)
                if self.penalty_s > 0:
                    self._skipped_until.pop(peer, None)
                    _bounded_put(self._skipped_until, peer, time.monotonic() + self.penalty_s)
        if self.total <= LOGGED_INDIVIDUALLY:
            self.log.warning("dropped %s message: %s", where, exc)
        else:
            self._unlogged += 1
            self._maybe_summarise()

    def _maybe_summarise(self) -> None:
        now = time.monotonic()
        if now - self._last_summary >= self.summary_s and (self._unlogged or self.ignored):
            self.log.warning(
                "dropped %d messages in all (%s; %d from skipped or ignored connections)",
                self.total,
                ", ".join(f"{k} {v}" for k, v in self.reasons.most_common()),
                self.ignored,
            )
            self._unlogged = 0
            self._last_summary = now


def _bounded_put(table: dict[bytes, V], key: bytes, value: V) -> None:
    """Insert, forgetting the oldest entry when the table is full."""
    if len(table) >= MAX_TRACKED:
        del table[next(iter(table))]
    table[key] = value
