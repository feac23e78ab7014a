"""What a household offers for a step: its own figures for the step and its forecast of the horizon."""

from __future__ import annotations

from chain.genesis import Genesis
from chain.offers import Offer
from chain.rules import ChainState
from optimizer.flows import Array
from optimizer.forecast import perfect_forecast


def build_offer(
    genesis: Genesis, state: ChainState, index: int, step: int, production: Array, consumption: Array
) -> Offer:
    """Household ``index``'s offer for run step ``step``, with the states of charge the ledger gives it.

    ``production``/``consumption`` are its series from run step 0 (kWh per step), read only up to where
    the forecaster may look.
    """
    steps_per_day = max(1, round(24 / genesis.dt_hours))
    return Offer(
        chain_id=genesis.chain_id,
        step=step,
        household=genesis.members[index].household,
        soc_kwh=state.soc[index],
        shared_soc_kwh=state.shared_soc[index],
        production_kwh=tuple(perfect_forecast(production, step, genesis.horizon, steps_per_day).tolist()),
        consumption_kwh=tuple(perfect_forecast(consumption, step, genesis.horizon, steps_per_day).tolist()),
    )
