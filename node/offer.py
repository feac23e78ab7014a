"""What a household offers for a step: its own figures for the step and its forecast of the horizon."""

from __future__ import annotations

from chain.crypto import Hash
from chain.offers import Offer
from optimizer.flows import Array
from optimizer.forecast import perfect_forecast


def build_offer(
    chain_id: Hash,
    step: int,
    household: str,
    soc_kwh: float,
    production: Array,
    consumption: Array,
    horizon: int,
    steps_per_day: int,
) -> Offer:
    """The offer for run step ``step``; ``production``/``consumption`` are the household's series from run
    step 0 (kWh per step), read only up to where the forecaster may look."""
    return Offer(
        chain_id=chain_id,
        step=step,
        household=household,
        soc_kwh=soc_kwh,
        production_kwh=tuple(perfect_forecast(production, step, horizon, steps_per_day).tolist()),
        consumption_kwh=tuple(perfect_forecast(consumption, step, horizon, steps_per_day).tolist()),
    )
