"""One market step for a fixed community: absent households act alone, the rest are cleared together.

This is what the coordinator runs on the offers it received and what the in-process engine runs on the
same numbers, so both produce the same settlements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chain.blocks import Settlement, Trade
from optimizer.baseline import baseline_step
from optimizer.clearing import OPTIMAL, ClearingModel, ClearingResult, Costs, MarketInputs
from optimizer.flows import Array, Batteries, Flows, GridWindow
from optimizer.pricing import p2p_price
from optimizer.settlement import StepPrices, execute_schedule, settlements_from_flows


@dataclass(frozen=True, slots=True)
class MarketConfig:
    dt_hours: float
    horizon: int
    costs: Costs
    solver: str
    pricing_rule: str
    price_factor: float
    """Share of the grid buy price the original pricing rule starts from."""
    terminal_value: float
    """$/kWh of energy left in batteries at the horizon end."""


@dataclass(frozen=True, slots=True)
class StepOutcome:
    settlements: list[Settlement]
    """One per household, community order."""
    trades: list[Trade]
    prices: StepPrices
    status: str
    objective: float
    solve_seconds: float


class Market:
    """Clears a community step by step; a clearing model per set of present households, built once."""

    def __init__(self, ids: Sequence[str], batteries: Batteries, config: MarketConfig) -> None:
        self.ids = tuple(ids)
        self.batteries = batteries
        self.config = config
        self._models: dict[tuple[bool, ...], ClearingModel] = {}

    def _model(self, present: npt.NDArray[np.bool_]) -> ClearingModel:
        key = tuple(bool(x) for x in present)
        model = self._models.get(key)
        if model is None:
            c = self.config
            model = ClearingModel(self.batteries.subset(present), c.horizon, c.dt_hours, c.costs, c.solver)
            self._models[key] = model
        return model

    def clear(
        self,
        present: npt.NDArray[np.bool_],
        production: Array,
        consumption: Array,
        soc: Array,
        grid: GridWindow,
    ) -> StepOutcome:
        """Settle one step.

        ``production``/``consumption`` are (N, H): offered forecasts for present households (column 0 is
        the step itself) and the best known figures for absent ones (only column 0 is used).
        ``soc`` is (N,) at the start of the step.

        Absent households act alone with a share of the transformer limits in proportion to their number;
        the market clears the present ones within what is left.
        """
        dt = self.config.dt_hours
        absent = ~present
        share = absent.sum() / len(self.ids)
        imp_kwh, exp_kwh = float(grid.import_kw[0]) * dt, float(grid.export_kw[0]) * dt
        alone_flows, alone_soc = baseline_step(
            production[absent, 0],
            consumption[absent, 0],
            soc[absent],
            self.batteries.subset(absent),
            dt,
            imp_kwh * share,
            exp_kwh * share,
        )
        imp_left = max(imp_kwh - float(alone_flows.grid_buy.sum()), 0.0)
        exp_left = max(exp_kwh - float(alone_flows.grid_sell.sum()), 0.0)
        prices = self._prices(grid, production[present, 0], consumption[present, 0])
        result = self._solve(present, production, consumption, soc, grid, imp_left, exp_left)
        batteries = self.batteries.subset(present)
        ids = [h for h, p in zip(self.ids, present, strict=True) if p]
        args = (production[present, 0], consumption[present, 0], soc[present], batteries, dt, imp_left, exp_left)
        if result.status == OPTIMAL and result.schedule is not None:
            flows, trades = execute_schedule(ids, *args, result.schedule, prices.p2p)
            mode = "market"
        else:
            flows, _ = baseline_step(*args)
            trades, mode = [], "alone"
        fee = self.config.costs.p2p_transaction
        market_soc = batteries.soc_after(soc[present], flows.charge, flows.discharge)
        absent_ids = [h for h, p in zip(self.ids, present, strict=True) if not p]
        by_id = {
            s.household: s
            for s in (
                *settlements_from_flows(ids, mode, flows, soc[present], market_soc, fee),
                *settlements_from_flows(absent_ids, "alone", alone_flows, soc[absent], alone_soc, fee),
            )
        }
        return StepOutcome(
            [by_id[h] for h in self.ids], trades, prices, result.status, result.objective, result.solve_seconds
        )

    def _prices(self, grid: GridWindow, production: Array, consumption: Array) -> StepPrices:
        c = self.config
        buy, sell = float(grid.buy_price[0]), float(grid.sell_price[0])
        price = p2p_price(c.pricing_rule, buy, sell, float(production.sum()), float(consumption.sum()), c.price_factor)
        return StepPrices(buy, sell, price)

    def _solve(
        self,
        present: npt.NDArray[np.bool_],
        production: Array,
        consumption: Array,
        soc: Array,
        grid: GridWindow,
        imp_left: float,
        exp_left: float,
    ) -> ClearingResult:
        """Clear the present households over the horizon; the first step's limits are what is left."""
        if not present.any():
            return ClearingResult("nobody present", 0.0, None, 0.0)
        dt = self.config.dt_hours
        imp, exp = grid.import_kw * dt, grid.export_kw * dt
        imp[0], exp[0] = imp_left, exp_left
        inputs = MarketInputs(
            production[present],
            consumption[present],
            soc[present],
            grid.buy_price,
            grid.sell_price,
            imp,
            exp,
            self.config.terminal_value,
        )
        return self._model(present).solve(inputs)


def community_flows(settlements: Sequence[Settlement]) -> Flows:
    """Flows as arrays, in the settlements' order."""

    def col(name: str) -> Array:
        return np.array([getattr(s, name) for s in settlements], dtype=np.float64)

    return Flows(*(col(f) for f in Flows.__dataclass_fields__))
