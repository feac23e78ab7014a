"""What a run's results and summary need from its blocks, folded in one block at a time.

A block's offers carry every household's forecast over the horizon: most of its bytes. A run of a year
would hold gigabytes if its blocks were kept until the results are written; a ``Digest`` keeps only each
step's settlement numbers, prices, limits and trades, what delivery corrected, who was absent, why a step
fell back and the acks that make blocks final: about 2 kB a step for 10 households.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chain import codec
from chain.blocks import CORRECTION_NUMBERS, SETTLEMENT_NUMBERS, Block, MarketPrices, Settlement, Trade
from chain.columns import SettlementTable
from chain.finality import Finality, needed
from chain.genesis import Genesis, HouseholdId
from chain.offers import Ack


@dataclass(frozen=True, slots=True)
class SettledStep:
    """One cleared step as finally settled: each household's row (genesis order), the step's prices,
    limits and the trades its block made."""

    step: int
    settlements: tuple[Settlement, ...]
    prices: MarketPrices
    import_kw: float
    export_kw: float
    trades: tuple[Trade, ...]


@dataclass(frozen=True, slots=True)
class _Step:
    prices: MarketPrices
    import_kw: float
    export_kw: float
    trades: tuple[Trade, ...]
    modes: tuple[str, ...]
    numbers: npt.NDArray[np.float64]
    """(households, len(SETTLEMENT_NUMBERS)), updated in place by later corrections."""


class Digest:
    """The fold of a chain's blocks, in height order (``add``), for results, summaries and their checks."""

    def __init__(self, genesis: Genesis) -> None:
        self.genesis = genesis
        self._index = {hid: i for i, hid in enumerate(genesis.household_ids)}
        self._steps: dict[int, _Step] = {}
        self.block_steps: list[int] = []
        """The step of each block, by height."""
        self.absent: list[tuple[HouseholdId, ...]] = []
        """The households each block records absent, by height."""
        self.fallbacks: list[tuple[int, str]] = []
        """(step, reason) of each block whose clearing fell back to the baseline policy."""
        self._closing: npt.NDArray[np.float64] | None = None
        self._needed: list[int] = []
        self._acks: list[int] = []
        self._final_at: list[int | None] = []

    def __len__(self) -> int:
        return len(self.block_steps)

    def add(self, block: Block) -> None:
        """Fold in the next block (a valid chain's, in order)."""
        height = len(self.block_steps)
        self.block_steps.append(block.step)
        self.absent.append(tuple(block.absent))
        if block.fallback:
            self.fallbacks.append((block.step, block.fallback))
        self._add_finality(height, block)
        for c in block.decoded_corrections():
            row = self._steps[c.step].numbers[self._index[c.household]]
            for name in CORRECTION_NUMBERS:
                row[_COLUMN[name]] = getattr(c, name)
        table = SettlementTable.decode(block.settlements)
        position = {h: i for i, h in enumerate(table.households)}
        if block.step == self.genesis.steps:
            transfers = table.column("transfer")
            self._closing = np.array(
                [transfers[position[h]] if h in position else 0.0 for h in self.genesis.household_ids]
            )
            return
        order = [position[h] for h in self.genesis.household_ids]
        self._steps[block.step] = _Step(
            block.prices,
            block.import_capacity_kw,
            block.export_capacity_kw,
            tuple(block.trades),
            tuple(table.modes[i] for i in order),
            table.numbers[order],  # a copy in genesis order (corrections change it in place)
        )

    def _add_finality(self, height: int, block: Block) -> None:
        self._needed.append(needed(len(block.offers)))
        self._acks.append(0)
        self._final_at.append(height if self._needed[height] == 0 else None)
        for raw in block.acks:
            ack = Ack.decode(codec.unpack(raw)[3])
            h = ack.height
            if 0 <= h < height:
                self._acks[h] += 1
                if self._final_at[h] is None and self._acks[h] >= self._needed[h]:
                    self._final_at[h] = height

    def finality(self) -> Finality:
        """When each block became final, from the acks carried by the blocks after it."""
        return Finality(tuple(self._final_at))

    def steps(self) -> Iterator[SettledStep]:
        """Each cleared step in order, every row as finally settled: corrections from later blocks (delivery
        balancing against the meters) applied, and the closing block's transfers added to the last step."""
        ids = self.genesis.household_ids
        last = self.genesis.steps - 1
        for step in sorted(self._steps):
            s = self._steps[step]
            numbers = s.numbers.copy()
            if step == last and self._closing is not None:
                numbers[:, _COLUMN["transfer"]] += self._closing
            rows = tuple(
                Settlement(hid, mode, *map(float, row)) for hid, mode, row in zip(ids, s.modes, numbers, strict=True)
            )
            yield SettledStep(step, rows, s.prices, s.import_kw, s.export_kw, s.trades)


_COLUMN = {name: i for i, name in enumerate(SETTLEMENT_NUMBERS)}
