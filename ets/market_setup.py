"""The market of a run, as genesis and the parameters define it (shared by coordinator and engine)."""

from __future__ import annotations

from chain.genesis import Genesis
from ets.params import Params
from optimizer.clearing import Costs
from optimizer.flows import Batteries
from optimizer.market import Market, MarketConfig


def market_config(params: Params, dt_hours: float, horizon: int) -> MarketConfig:
    o = params.optimizer
    return MarketConfig(
        dt_hours=dt_hours,
        horizon=horizon,
        costs=Costs(
            p2p_transaction=o.p2p_transaction_cost,
            battery_wear=params.battery.wear_cost_per_kwh,
            unserved_penalty=o.unserved_penalty,
            curtailment_penalty=o.curtailment_penalty,
        ),
        solver=o.solver,
        pricing_rule=o.pricing_rule,
        price_factor=o.p2p_price_factor,
        terminal_value=o.terminal_value_per_kwh,
    )


def market_for(genesis: Genesis, params: Params) -> Market:
    batteries = Batteries.from_specs([m.battery for m in genesis.members])
    return Market(genesis.household_ids, batteries, market_config(params, genesis.dt_hours, genesis.horizon))
