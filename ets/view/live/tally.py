"""What the live view shows, tallied from the blocks as they arrive: the community's wallet and grid
purchases per step, beside the baseline's (known before the run starts). Pure: no drawing, no sockets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from chain.blocks import Block, MarketPrices, Settlement
from chain.genesis import Genesis
from ets.results.read import read_results

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CommunitySeries:
    """Per step of the run (NaN for a step not cleared yet)."""

    wallet_usd: Array
    """The community's wallet (every household's added up) at the end of the step ($)."""
    grid_buy_kwh: Array
    """What the community bought from the grid in the step (kWh)."""


def baseline_series(path: Path, steps: int) -> CommunitySeries:
    """The baseline's community series from its result CSV (written before the run starts)."""
    per_step = read_results(path).groupby("step")[["wallet", "grid_buy"]].sum().reindex(range(steps))
    return CommunitySeries(
        per_step["wallet"].to_numpy(dtype=np.float64), per_step["grid_buy"].to_numpy(dtype=np.float64)
    )


class LiveTally:
    """The market's community series, block by block. A block seen before is ignored; meter corrections
    replace the settled figures of earlier steps, and the closing block's transfers count in the last
    step, as in ``optimized_results.csv``."""

    def __init__(self, genesis: Genesis) -> None:
        self.steps = genesis.steps
        self.initial_wallet_usd = genesis.initial_wallet * len(genesis.members)
        self.heights: set[int] = set()
        self._settled: dict[int, dict[str, Settlement]] = {}
        self._prices: dict[int, MarketPrices] = {}
        self._cost = np.full(self.steps, np.nan)
        self._grid_buy = np.full(self.steps, np.nan)

    @property
    def cleared(self) -> int:
        """How many steps have a block."""
        return len(self._settled)

    def add(self, block: Block) -> bool:
        """Count ``block``; False when it was counted before."""
        if block.height in self.heights:
            return False
        self.heights.add(block.height)
        touched: set[int] = set()
        for c in block.decoded_corrections():
            settled = self._settled.get(c.step)
            if settled is not None and c.household in settled:
                settled[c.household] = c.applied_to(settled[c.household])
                touched.add(c.step)
        if block.step >= self.steps:
            last = self._settled.get(self.steps - 1, {})
            for s in block.decoded_settlements():
                if s.household in last:
                    last[s.household] = replace(last[s.household], transfer=last[s.household].transfer + s.transfer)
            touched.add(self.steps - 1)
        else:
            self._settled[block.step] = {s.household: s for s in block.decoded_settlements()}
            self._prices[block.step] = block.prices
            touched.add(block.step)
        for step in touched:
            self._tally(step)
        return True

    def _tally(self, step: int) -> None:
        if step not in self._settled:
            return
        p = self._prices[step]
        settled = self._settled[step].values()
        self._cost[step] = sum(s.cost(p.grid_buy, p.grid_sell, p.p2p) for s in settled)
        self._grid_buy[step] = sum(s.grid_buy for s in settled)

    def series(self) -> CommunitySeries:
        cleared = ~np.isnan(self._cost)
        wallet = self.initial_wallet_usd - np.cumsum(np.where(cleared, self._cost, 0.0))
        return CommunitySeries(np.where(cleared, wallet, np.nan), self._grid_buy.copy())
