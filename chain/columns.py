"""A block's settlements as columns: decoded once and checked for every household at once.

``Settlement`` is one household's step; ``SettlementTable`` holds a whole block's, with the numbers in
one float64 array (one row per household, ``SETTLEMENT_NUMBERS`` order), so that the rules that hold
for every household are checked with one array operation each instead of one Python call per household.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chain.blocks import SETTLEMENT_NUMBERS, MarketPrices, Settlement, settlement_fields
from chain.codec import FloatArray
from chain.genesis import HouseholdId

COLUMN = {name: i for i, name in enumerate(SETTLEMENT_NUMBERS)}
"""Column of each of a settlement's numbers."""


@dataclass(frozen=True, slots=True)
class SettlementTable:
    """Settlements in block order (energies kWh per step, money $; see ``Settlement``)."""

    households: tuple[HouseholdId, ...]
    modes: tuple[str, ...]
    numbers: FloatArray
    """Read-only (rows, len(SETTLEMENT_NUMBERS)) array."""

    @classmethod
    def decode(cls, raws: Sequence[bytes]) -> SettlementTable:
        """Decode canonical settlement encodings, each checked as ``Settlement.decode`` checks it."""
        decoded = [settlement_fields(raw) for raw in raws]
        numbers = np.array([d[2] for d in decoded], dtype=np.float64).reshape(len(decoded), len(SETTLEMENT_NUMBERS))
        numbers.flags.writeable = False
        return cls(tuple(d[0] for d in decoded), tuple(d[1] for d in decoded), numbers)

    def __len__(self) -> int:
        return len(self.households)

    def column(self, name: str) -> FloatArray:
        """One number of every settlement, e.g. ``column("grid_buy")``."""
        return self.numbers[:, COLUMN[name]]

    def row(self, i: int) -> Settlement:
        return Settlement(self.households[i], self.modes[i], *self.numbers[i].tolist())

    def rows(self) -> list[Settlement]:
        return [self.row(i) for i in range(len(self))]

    def costs(self, prices: MarketPrices) -> FloatArray:
        """What each household pays for the step ($; ``Settlement.cost`` of every row)."""
        return row_costs(self.numbers, prices)


def row_costs(numbers: FloatArray, prices: MarketPrices) -> FloatArray:
    """What each row of settlement numbers (``SETTLEMENT_NUMBERS`` order) pays for its step ($)."""

    def c(name: str) -> FloatArray:
        return numbers[:, COLUMN[name]]

    out: FloatArray = (
        c("grid_buy") * prices.grid_buy
        - c("grid_sell") * prices.grid_sell
        + (c("p2p_buy") - c("p2p_sell")) * prices.p2p
        + c("fees")
        + c("transfer")
    )
    return out
