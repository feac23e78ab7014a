"""The market of a run, as genesis and the parameters define it (shared by coordinator and engine)."""

from __future__ import annotations

from chain.genesis import Genesis
from optimizer.flows import Storage
from optimizer.market import Market, MarketConfig
from optimizer.programme import Costs
from runtime.params import Params


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
        topology=o.topology,
        neighbours=o.ring_neighbours,
        min_trade_kwh=o.min_trade_kwh,
        value_of_lost_load=o.value_of_lost_load,
        max_iterations=o.max_solver_iterations,
        path=o.clearing_path,
        fine_steps=o.fine_steps,
        block_steps=o.block_steps,
    )


def storage_of(genesis: Genesis) -> Storage:
    """Every household's own battery and community-battery share, as genesis gives them."""
    return Storage.from_specs(
        [m.battery for m in genesis.members], [m.shared_battery for m in genesis.members], genesis.community_fee_per_kwh
    )


def market_for(genesis: Genesis, params: Params) -> Market:
    return Market(genesis.household_ids, storage_of(genesis), market_config(params, genesis.dt_hours, genesis.horizon))
