"""One market step for a fixed community: absent households act alone, the rest are cleared together.

This is what the coordinator runs on the offers it received and what the in-process engine runs on the
same numbers, so both produce the same settlements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chain.blocks import Settlement, Trade
from optimizer.baseline import baseline_step
from optimizer.clearing import OPTIMAL, ClearingModel, ClearingResult, Costs, MarketInputs, build_model
from optimizer.flows import Array, GridWindow, Mask, Storage
from optimizer.pricing import PriceInputs, p2p_price
from optimizer.settlement import (
    StepPrices,
    StorageStates,
    execute_schedule,
    schedule_trades,
    settlements_from_flows,
)


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
    """$/kWh of energy left in storage at the horizon end."""
    topology: str = "pool"
    neighbours: int = 4
    """Ring topology: how many nearest neighbours each household trades with."""
    min_trade_kwh: float = 0.0


@dataclass(frozen=True, slots=True)
class StepOutcome:
    settlements: list[Settlement]
    """One per household, community order."""
    trades: list[Trade]
    prices: StepPrices
    status: str
    objective: float
    solve_seconds: float


@dataclass(frozen=True, slots=True)
class StepInputs:
    """One step's inputs: ``present`` (N,); ``production``/``consumption`` (N, H): offered forecasts for
    present households (column 0 is the step itself) and the best known figures for absent ones (only
    column 0 is used); states of charge (N,) at the start of the step."""

    present: Mask
    production: Array
    consumption: Array
    soc: Array
    shared_soc: Array
    grid: GridWindow


class Market:
    """Clears a community step by step; a clearing model per set of present households, built once."""

    def __init__(self, ids: Sequence[str], storage: Storage, config: MarketConfig) -> None:
        self.ids = tuple(ids)
        self.storage = storage
        self.config = config
        self._models: dict[tuple[bool, ...], ClearingModel] = {}

    def _model(self, present: Mask) -> ClearingModel:
        key = tuple(bool(x) for x in present)
        model = self._models.get(key)
        if model is None:
            c = self.config
            model = build_model(
                self.storage.subset(present), c.horizon, c.dt_hours, c.costs, c.solver, c.topology, c.neighbours
            )
            self._models[key] = model
        return model

    def clear(self, x: StepInputs) -> StepOutcome:
        """Settle one step. Absent households act alone with a share of the transformer limits in proportion
        to their number; the market clears the present ones within what is left."""
        c, dt = self.config, self.config.dt_hours
        present, absent = x.present, ~x.present
        share = absent.sum() / len(self.ids)
        imp, exp = float(x.grid.import_kw[0]) * dt, float(x.grid.export_kw[0]) * dt
        alone_flows, alone_soc, alone_shared = baseline_step(
            x.production[absent, 0],
            x.consumption[absent, 0],
            x.soc[absent],
            x.shared_soc[absent],
            self.storage.subset(absent),
            dt,
            imp * share,
            exp * share,
        )
        limits = (max(imp - float(alone_flows.grid_buy.sum()), 0.0), max(exp - float(alone_flows.grid_sell.sum()), 0.0))
        result = self._solve(x, limits)
        storage = self.storage.subset(present)
        ids = [h for h, p in zip(self.ids, present, strict=True) if p]
        prod, cons = x.production[present, 0], x.consumption[present, 0]
        soc, shared = x.soc[present], x.shared_soc[present]
        if result.status == OPTIMAL and result.schedule is not None:
            price = self._price(x.grid, result, prod, cons)
            trades = schedule_trades(ids, result.schedule, price, c.min_trade_kwh)
            flows = execute_schedule(ids, prod, cons, soc, shared, storage, dt, limits, result.schedule, trades)
            mode = "market"
        else:
            price = self._price(x.grid, result, prod, cons)
            flows, _, _ = baseline_step(prod, cons, soc, shared, storage, dt, *limits)
            trades, mode = [], "alone"
        states = StorageStates(
            soc,
            storage.own.soc_after(soc, flows.charge, flows.discharge),
            shared,
            storage.shared.soc_after(shared, flows.shared_charge, flows.shared_discharge),
        )
        alone_states = StorageStates(x.soc[absent], alone_soc, x.shared_soc[absent], alone_shared)
        fee, shared_fee = c.costs.p2p_transaction, self.storage.shared_fee
        absent_ids = [h for h, p in zip(self.ids, present, strict=True) if not p]
        by_id = {
            s.household: s
            for s in (
                *settlements_from_flows(ids, mode, flows, states, fee, shared_fee),
                *settlements_from_flows(absent_ids, "alone", alone_flows, alone_states, fee, shared_fee),
            )
        }
        prices = StepPrices(float(x.grid.buy_price[0]), float(x.grid.sell_price[0]), price)
        return StepOutcome(
            [by_id[h] for h in self.ids], trades, prices, result.status, result.objective, result.solve_seconds
        )

    def _price(self, grid: GridWindow, result: ClearingResult, production: Array, consumption: Array) -> float:
        """The step's P2P price by the configured rule, from the schedule's positions before trading."""
        s = result.schedule
        if s is not None:
            net = production - consumption + s.discharge + s.shared_discharge - s.charge - s.shared_charge
        else:
            net = production - consumption
        buy, sell = float(grid.buy_price[0]), float(grid.sell_price[0])
        inputs = PriceInputs(
            grid_buy=buy,
            grid_sell=sell,
            supply=float(np.maximum(net, 0.0).sum()),
            demand=float(np.maximum(-net, 0.0).sum()),
            production=float(production.sum()),
            consumption=float(consumption.sum()),
            marginal=s.marginal_price if s is not None else (buy + sell) / 2,
        )
        return p2p_price(self.config.pricing_rule, inputs, self.config.price_factor)

    def _solve(self, x: StepInputs, limits: tuple[float, float]) -> ClearingResult:
        """Clear the present households over the horizon; the first step's limits are what is left."""
        present = x.present
        if not present.any():
            return ClearingResult("nobody present", 0.0, None, 0.0)
        dt = self.config.dt_hours
        imp, exp = x.grid.import_kw * dt, x.grid.export_kw * dt
        imp[0], exp[0] = limits
        inputs = MarketInputs(
            x.production[present],
            x.consumption[present],
            x.soc[present],
            x.shared_soc[present],
            x.grid.buy_price,
            x.grid.sell_price,
            imp,
            exp,
            self.config.terminal_value,
        )
        return self._model(present).solve(inputs)
