"""One market step for a fixed community: absent households act alone, the rest are cleared together.

This is what the coordinator runs on the offers it received and what the in-process engine runs on the
same numbers, so both produce the same settlements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chain.alone import act_alone, alone_settlements
from chain.blocks import Settlement, Trade, fallback_reason
from optimizer.baseline import baseline_step
from optimizer.blocking import Blocking
from optimizer.clearing_lp import Clearing, build_clearing
from optimizer.flows import Array, GridWindow, Mask, Storage
from optimizer.pricing import PriceInputs, fair_range, p2p_price
from optimizer.programme import OPTIMAL, ClearingResult, Costs, MarketInputs
from optimizer.settlement import (
    PlannedStep,
    StepPrices,
    StorageStates,
    execute_step,
    schedule_trades,
    settlements_from_flows,
)
from optimizer.valuation import Valuation


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
    value_of_lost_load: float = 5.0
    """$/kWh of demand left unserved, in the saving and the closing transfers."""
    max_iterations: int = 0
    """Most iterations each solver may take for one clearing (0: the solver's own limit)."""
    path: str = "direct"
    """How the clearing reaches its solver: direct (matrices, ``optimizer.clearing_lp``) or cvxpy."""
    fine_steps: int = 1
    """Move blocking: steps at the start of the horizon that are periods of their own (``optimizer.blocking``)."""
    block_steps: int = 1
    """Move blocking: steps per period after the fine steps (1: the exact horizon)."""

    @property
    def blocking(self) -> Blocking:
        return Blocking(self.horizon, self.fine_steps, self.block_steps)

    @property
    def valuation(self) -> Valuation:
        return Valuation(self.terminal_value, self.value_of_lost_load)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    settlements: list[Settlement]
    """One per household, community order."""
    trades: list[Trade]
    prices: StepPrices
    status: str
    objective: float
    solve_seconds: float
    fallback: str = ""
    """Why the step fell back to the baseline policy; empty when the market cleared it."""

    def finite(self) -> bool:
        """Whether every number of the outcome is finite (a block carries only finite numbers)."""
        numbers = [n for s in self.settlements for n in s.numbers()]
        numbers += [n for t in self.trades for n in (t.kwh, t.price)]
        numbers += [self.prices.grid_buy, self.prices.grid_sell, self.prices.p2p, self.objective]
        return bool(np.isfinite(np.array(numbers, dtype=np.float64)).all())


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
        self._models: dict[tuple[bool, ...], Clearing] = {}

    def _model(self, present: Mask) -> Clearing:
        key = tuple(bool(x) for x in present)
        model = self._models.get(key)
        if model is None:
            c = self.config
            model = build_clearing(
                self.storage.subset(present),
                c.horizon,
                c.dt_hours,
                c.costs,
                c.solver,
                c.topology,
                c.neighbours,
                c.max_iterations,
                c.path,
                c.blocking,
            )
            self._models[key] = model
        return model

    def clear(self, x: StepInputs) -> StepOutcome:
        """Settle one step. Absent households act alone: the market clears the present ones within the
        transformer room that the absent ones' own needs (a share in proportion to their number) leave.
        Then the step is executed for everyone at once (``chain.delivery.balance``, without the pool):
        storage as planned where it can, trades as cleared, the grid within the limits pro rata.

        A clearing that fails in any way (a solver status other than optimal, an error anywhere in it,
        numbers that are not finite) never stops the run: the step falls back to the baseline policy
        (``fallback``) and says why."""
        try:
            outcome = self._clear(x)
        except Exception as exc:  # whatever breaks in the clearing, the step falls back
            return self.fallback(x, f"{type(exc).__name__}: {exc}", "error")
        if not outcome.fallback and not outcome.finite():
            return self.fallback(x, "the clearing gave numbers that are not finite", outcome.status)
        return outcome

    def fallback(self, x: StepInputs, reason: str, status: str, seconds: float = 0.0) -> StepOutcome:
        """The step by the baseline policy (``chain.alone``): every household alone, within the transformer's
        whole limits; offered households are settled as ``fallback``, absent ones as ``alone``."""
        dt = self.config.dt_hours
        limits = (float(x.grid.import_kw[0]) * dt, float(x.grid.export_kw[0]) * dt)
        prod, cons = x.production[:, 0], x.consumption[:, 0]
        units = (self.storage.own.units(), self.storage.shared.units())
        step = act_alone(prod, cons, x.soc, x.shared_soc, units, dt, limits)
        modes = ["fallback" if p else "alone" for p in x.present]
        settlements = alone_settlements(
            self.ids, modes, prod, cons, (x.soc, x.shared_soc), step, self.storage.shared_fee
        )
        buy, sell = float(x.grid.buy_price[0]), float(x.grid.sell_price[0])
        try:
            price = self._price(x.grid, ClearingResult(status, 0.0, None, 0.0), prod[x.present], cons[x.present])
        except Exception:  # the price only matters to delivery's pool: mid-market will do
            price = (buy + sell) / 2
        if not math.isfinite(price):
            price = (buy + sell) / 2
        prices = StepPrices(buy, sell, price)
        return StepOutcome(settlements, [], prices, status[:32], 0.0, seconds, fallback_reason(reason))

    def _clear(self, x: StepInputs) -> StepOutcome:
        c, dt = self.config, self.config.dt_hours
        present, absent = x.present, ~x.present
        share = absent.sum() / len(self.ids)
        imp, exp = float(x.grid.import_kw[0]) * dt, float(x.grid.export_kw[0]) * dt
        prod, cons = x.production[:, 0], x.consumption[:, 0]
        alone, _, _ = baseline_step(
            prod[absent], cons[absent], x.soc[absent], x.shared_soc[absent], self.storage.subset(absent), dt,
            imp * share, exp * share,
        )  # fmt: skip
        limits = (max(imp - float(alone.grid_buy.sum()), 0.0), max(exp - float(alone.grid_sell.sum()), 0.0))
        result = self._solve(x, limits)
        if present.any() and (result.status != OPTIMAL or result.schedule is None):
            return self.fallback(x, f"solver status {result.status}", result.status, result.solve_seconds)
        own, shared = np.zeros(len(self.ids)), np.zeros(len(self.ids))
        own[absent] = alone.discharge - alone.charge
        shared[absent] = alone.shared_discharge - alone.shared_charge
        ids = [h for h, p in zip(self.ids, present, strict=True) if p]
        price = self._price(x.grid, result, prod[present], cons[present])
        fee, shared_fee = c.costs.p2p_transaction, self.storage.shared_fee
        buy_sell = (float(x.grid.buy_price[0]), float(x.grid.sell_price[0]))
        trades: list[Trade] = []
        if result.schedule is not None:
            s = result.schedule
            trades = schedule_trades(ids, s, price, c.min_trade_kwh) if fair_range(*buy_sell, fee) else []
            own[present], shared[present] = s.discharge - s.charge, s.shared_discharge - s.shared_charge
        step = PlannedStep(prod, cons, x.soc, x.shared_soc, own, shared, trades, price)
        flows, trades = execute_step(self.ids, step, self.storage, dt, (imp, exp))
        states = StorageStates(
            x.soc,
            self.storage.own.soc_after(x.soc, flows.charge, flows.discharge),
            x.shared_soc,
            self.storage.shared.soc_after(x.shared_soc, flows.shared_charge, flows.shared_discharge),
        )
        modes = ["market" if p else "alone" for p in present]
        settlements = settlements_from_flows(self.ids, modes, flows, states, fee, shared_fee)
        prices = StepPrices(*buy_sell, price)
        return StepOutcome(settlements, trades, prices, result.status, result.objective, result.solve_seconds)

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
        return p2p_price(self.config.pricing_rule, inputs, self.config.price_factor, self.config.costs.p2p_transaction)

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
