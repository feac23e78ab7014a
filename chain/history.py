"""What a block is checked against besides the state: earlier block hashes, each step's prices and grid
limits, and the flows of steps not yet settled against every household's meter.

``correct`` is the rule that settles a household's step against its meter: the difference between the
measured and the planned net energy goes to the grid within the step's remaining limits, the rest
becomes curtailed or unserved energy. Storage and P2P flows stay as cleared.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chain.blocks import Correction, MarketPrices
from chain.columns import COLUMN, SettlementTable
from chain.errors import ReplayError
from chain.genesis import Genesis, HouseholdId
from chain.offers import MeterReading

_PROD, _CONS, _GB, _GS, _K, _U = range(6)

Room = Callable[[], float]
"""The grid room left in a step on one side (kWh), looked up when asked."""
_FLOW_COLUMNS = [COLUMN[n] for n in ("production", "consumption", "grid_buy", "grid_sell", "curtailed", "unserved")]


@dataclass(frozen=True, slots=True)
class StepRecord:
    prices: MarketPrices
    import_kwh: float
    """The step's import limit (kWh)."""
    export_kwh: float
    """The step's export limit (kWh)."""


class History:
    """Mutable companion of ``ChainState``, updated block by block after validation.

    ``keep_actuals`` keeps every household's measured (or, until measured, planned) production and
    consumption of every step: what the closing transfers are computed from.
    """

    def __init__(self, genesis: Genesis, *, keep_actuals: bool = False) -> None:
        self.genesis = genesis
        self.index = {hid: i for i, hid in enumerate(genesis.household_ids)}
        self.hashes: list[bytes] = []
        self.steps: dict[int, StepRecord] = {}
        self.open_flows: dict[int, npt.NDArray[np.float64]] = {}
        """step -> (N, 6) production, consumption, grid_buy, grid_sell, curtailed, unserved."""
        self.metered_through = np.full(len(genesis.members), -1, dtype=np.int64)
        n = len(genesis.members)
        self.actual = np.zeros((n, genesis.steps, 2)) if keep_actuals else None

    def hash_at(self, height: int) -> bytes:
        return self.hashes[height]

    def record_step(
        self, step: int, settlements: SettlementTable, prices: MarketPrices, limits_kwh: tuple[float, float]
    ) -> None:
        self.steps[step] = StepRecord(prices, *limits_kwh)
        self.open_flows[step] = settlements.numbers[:, _FLOW_COLUMNS]  # (a copy: rows change when corrected)
        if self.actual is not None:
            self.actual[:, step, 0] = self.open_flows[step][:, _PROD]
            self.actual[:, step, 1] = self.open_flows[step][:, _CONS]

    def check_readings(self, household: HouseholdId, readings: Sequence[MeterReading], step: int) -> None:
        """Meter readings must continue where the ledger's end for the household, in order, before ``step``."""
        expected = int(self.metered_through[self.index[household]]) + 1
        for r in readings:
            if r.step != expected or r.step >= step or not self.is_open(r.step):
                raise ReplayError(f"{household}: meter reading for step {r.step} where step {expected} was due")
            expected += 1

    def plan_corrections(
        self, readings: Sequence[tuple[HouseholdId, MeterReading]]
    ) -> tuple[list[Correction], list[float]]:
        """The corrections for ``readings`` in order, and each household's cost change; nothing changes."""
        scratch = {step: self.open_flows[step].copy() for step in {r.step for _, r in readings}}
        costs = [0.0] * len(self.index)
        out = []
        for household, r in readings:
            flows = scratch[r.step]
            i = self.index[household]
            row = flows[i].tolist()
            c = self._correction(flows, row, household, r)
            costs[i] += self._cost_change(row, c)
            flows[i] = c.numbers()
            out.append(c)
        return out, costs

    def with_corrections(self, corrections: Sequence[Correction]) -> History:
        """A copy of this history with ``corrections`` applied; this one is unchanged."""
        other = copy.deepcopy(self)
        other.commit(corrections)
        return other

    def commit(self, corrections: Sequence[Correction]) -> None:
        for c in corrections:
            self._enter(c)
        self._prune()

    def _correction(
        self, flows: npt.NDArray[np.float64], row: list[float], household: HouseholdId, r: MeterReading
    ) -> Correction:
        """The correction of ``household``'s step for a meter reading, given the step's flows so far (``row``
        is the household's)."""
        record = self.steps[r.step]

        def room(column: int, limit_kwh: float) -> Room:
            return lambda: max(limit_kwh - float(np.add.reduce(flows[:, column])), 0.0)

        gb, gs, k, u = correct(
            (row[_PROD], row[_CONS]),
            (r.production, r.consumption),
            (row[_GB], row[_GS], row[_K], row[_U]),
            room(_GB, record.import_kwh),
            room(_GS, record.export_kwh),
        )
        return Correction(household, r.step, r.production, r.consumption, gb, gs, k, u)

    def _cost_change(self, row: list[float], c: Correction) -> float:
        """What the correction adds to the household's bill at the step's prices ($)."""
        p = self.steps[c.step].prices
        return (c.grid_buy - row[_GB]) * p.grid_buy - (c.grid_sell - row[_GS]) * p.grid_sell

    def apply(self, c: Correction) -> None:
        self._enter(c)
        self._prune()

    def _enter(self, c: Correction) -> None:
        i = self.index[c.household]
        self.open_flows[c.step][i] = c.numbers()
        self.metered_through[i] = c.step
        if self.actual is not None:
            self.actual[i, c.step] = (c.production, c.consumption)

    def _prune(self) -> None:
        done = int(self.metered_through.min())
        for step in [s for s in self.open_flows if s <= done]:
            del self.open_flows[step]
            if self.actual is None:
                del self.steps[step]

    def is_open(self, step: int) -> bool:
        return step in self.open_flows


def correct(
    plan: tuple[float, float],
    actual: tuple[float, float],
    flows: tuple[float, float, float, float],
    import_room: Room,
    export_room: Room,
) -> tuple[float, float, float, float]:
    """Settle a step against the meter; returns (grid_buy, grid_sell, curtailed, unserved).

    With ``delta`` = measured net (production - consumption) minus planned net: a surplus first reduces
    unserved energy and grid purchases, then is sold within the export room, the rest is curtailed; a
    shortfall first reduces curtailment and grid sales, then is bought within the import room, the rest
    is unserved. The household's balance holds with the measured figures. A room is looked up only for
    a difference that the household's own flows do not take up.
    """
    gb, gs, k, u = flows
    delta = (actual[0] - actual[1]) - (plan[0] - plan[1])
    if delta > 0:
        for_unserved = min(u, delta)
        for_purchases = min(gb, delta - for_unserved)
        rest = delta - for_unserved - for_purchases
        sold = min(export_room(), rest) if rest > 0 else 0.0
        return gb - for_purchases, gs + sold, k + (rest - sold), u - for_unserved
    need = -delta
    from_curtailed = min(k, need)
    from_sales = min(gs, need - from_curtailed)
    rest = need - from_curtailed - from_sales
    bought = min(import_room(), rest) if rest > 0 else 0.0
    return gb + bought, gs - from_sales, k - from_curtailed, u + (rest - bought)
