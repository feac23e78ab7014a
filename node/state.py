"""A household's step as an explicit state machine: waiting -> offered -> cleared -> settled.

Events drive it; an event the current phase does not allow raises ``ProtocolError`` and leaves the
state unchanged. No sockets: tests drive it directly.

    WAITING --open(s)--> OFFERED --cleared(s)--> CLEARED --settled(s)--> SETTLED --open(s+k)--> OFFERED
    WAITING/SETTLED --cleared(s)--> CLEARED          (a block for a step this node did not offer in)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from chain.errors import ProtocolError


class Phase(Enum):
    WAITING = "waiting"
    OFFERED = "offered"
    CLEARED = "cleared"
    SETTLED = "settled"


@dataclass
class StepMachine:
    phase: Phase = Phase.WAITING
    step: int = -1
    """The step the phase refers to (-1 before the first)."""

    def open(self, step: int) -> None:
        """An offer for ``step`` was sent."""
        if self.phase not in (Phase.WAITING, Phase.SETTLED) or step <= self.step:
            raise ProtocolError(f"cannot offer for step {step} while {self.phase.value} at step {self.step}")
        self.phase, self.step = Phase.OFFERED, step

    def cleared(self, step: int) -> None:
        """A valid block for ``step`` arrived."""
        if self.phase is Phase.OFFERED and step == self.step:
            self.phase = Phase.CLEARED
            return
        if self.phase in (Phase.WAITING, Phase.SETTLED) and step > self.step:
            self.phase, self.step = Phase.CLEARED, step
            return
        if self.phase is Phase.OFFERED and step > self.step:
            # the block for an earlier step than we offered in cannot come after our offer; a later one
            # means our offer was overtaken (we were absent) - accept it
            self.phase, self.step = Phase.CLEARED, step
            return
        raise ProtocolError(f"unexpected block for step {step} while {self.phase.value} at step {self.step}")

    def settled(self, step: int) -> None:
        """The block for ``step`` is stored and acknowledged."""
        if self.phase is not Phase.CLEARED or step != self.step:
            raise ProtocolError(f"cannot settle step {step} while {self.phase.value} at step {self.step}")
        self.phase = Phase.SETTLED

    def offered_in(self, step: int) -> bool:
        return self.step == step and self.phase is Phase.OFFERED
