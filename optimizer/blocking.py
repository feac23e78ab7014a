"""Move blocking: the clearing's horizon as a few fine steps followed by blocks of several steps.

Model-predictive clearing runs only the first step of each solution, so the far part of the horizon
only has to be right on average: it tells the first step what energy is worth later. With
``fine_steps = F`` and ``block_steps = B`` a horizon of H steps becomes F periods of one step and then
``ceil((H - F) / B)`` periods of B steps (the last one shorter where B does not divide H - F). A block
is one period of the programme: its production, consumption and grid limits are the sums over its steps
(kWh), its prices their means ($/kWh), and a storage unit may move up to B steps' worth of energy in it.
The first step is always fine, so what runs is a step of the data's own length.

``B = 1`` (or ``F >= H``) is the exact horizon. The cost of a setting is its closed-loop regret (a whole
run's objective against the exact run's), measured by ``bench/clearing.py --blocking`` (README,
Performance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from optimizer.flows import Array
from optimizer.programme import ClearingResult, MarketInputs


@dataclass(frozen=True, slots=True)
class Blocking:
    """How a horizon of ``horizon`` steps is cut into periods."""

    horizon: int
    """steps"""
    fine_steps: int
    """steps at the start of the horizon that are periods of their own"""
    block_steps: int
    """steps per period after them"""

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.fine_steps < 1 or self.block_steps < 1:
            raise ValueError("the horizon, the fine steps and the block length are at least 1 step each")

    @property
    def exact(self) -> bool:
        """Whether every period is one step (the programme is the unblocked one)."""
        return self.block_steps == 1 or self.fine_steps >= self.horizon

    @property
    def periods(self) -> Array:
        """(P,) steps in each period; they add up to the horizon."""
        fine = min(self.fine_steps, self.horizon)
        rest = self.horizon - fine
        full, tail = divmod(rest, self.block_steps)
        lengths = [1.0] * fine + [float(self.block_steps)] * full + ([float(tail)] if tail else [])
        return np.array(lengths)

    @property
    def starts(self) -> npt.NDArray[np.int64]:
        """(P,) the first step of each period."""
        return np.concatenate([[0], np.cumsum(self.periods)[:-1]]).astype(np.int64)

    def aggregate(self, inputs: MarketInputs) -> MarketInputs:
        """The inputs over the periods: energies and limits summed, prices averaged over each period."""
        if inputs.buy_price.shape[-1] != self.horizon:
            raise ValueError(f"inputs over {inputs.buy_price.shape[-1]} steps for a horizon of {self.horizon}")
        starts, periods = self.starts, self.periods

        def total(values: Array) -> Array:
            out: Array = np.add.reduceat(np.asarray(values, dtype=np.float64), starts, axis=-1)
            return out

        return MarketInputs(
            production=total(inputs.production),
            consumption=total(inputs.consumption),
            soc=inputs.soc,
            shared_soc=inputs.shared_soc,
            buy_price=total(inputs.buy_price) / periods,
            sell_price=total(inputs.sell_price) / periods,
            import_kwh=total(inputs.import_kwh),
            export_kwh=total(inputs.export_kwh),
            terminal_value=inputs.terminal_value,
        )


class Solves(Protocol):
    def solve(self, inputs: MarketInputs) -> ClearingResult: ...

    def horizon_totals(self) -> tuple[float, float, float]: ...


class BlockedClearing:
    """A clearing over the periods of ``blocking``, asked with inputs over every step of the horizon: the
    same interface as the models of ``optimizer.clearing`` and ``optimizer.clearing_lp``."""

    def __init__(self, model: Solves, blocking: Blocking) -> None:
        self.model, self.blocking = model, blocking

    def solve(self, inputs: MarketInputs) -> ClearingResult:
        return self.model.solve(self.blocking.aggregate(inputs))

    def horizon_totals(self) -> tuple[float, float, float]:
        """After a solve: storage throughput, unserved and curtailed energy over the whole horizon (kWh)."""
        return self.model.horizon_totals()
