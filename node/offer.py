"""What a household offers for a step: its forecast of the horizon (the step itself first) and what its
meter measured in the earlier steps not yet settled against the meter."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from chain.genesis import Genesis, HouseholdId
from chain.history import History
from chain.offers import READINGS_PER_OFFER, Offer
from chain.state import ChainState
from optimizer.flows import Array
from optimizer.forecast import forecasts


def build_offer(
    genesis: Genesis,
    state: ChainState,
    history: History,
    index: int,
    step: int,
    series: tuple[Array, Array],
    forecaster: str,
    offset: int = 0,
) -> Offer:
    """Household ``index``'s offer for run step ``step``.

    ``series`` is its (production, consumption) in kWh per step, where run step ``t`` is at position
    ``t + offset`` (``offset`` steps of its past before the run). The closing step (``genesis.steps``)
    forecasts nothing; it only carries the last meter readings.
    """
    return build_offers(genesis, state, history, {index: series}, step, forecaster, offset)[0]


def build_offers(
    genesis: Genesis,
    state: ChainState,
    history: History,
    series: Mapping[int, tuple[Array, Array]],
    step: int,
    forecaster: str,
    offset: int = 0,
) -> list[Offer]:
    """``build_offer`` of several households (by index, with their series), in the mapping's order: their
    meter readings computed together (``History.readings_of``, each number as one household's alone)."""
    steps_per_day = max(1, round(24 / genesis.dt_hours))
    measured: dict[HouseholdId, list[tuple[int, float, float]]] = {}
    for index, (production, consumption) in series.items():
        first = int(history.metered_through[index]) + 1
        last = min(step, first + READINGS_PER_OFFER)
        measured[genesis.members[index].household] = [
            (s, float(production[s + offset]), float(consumption[s + offset])) for s in range(first, last)
        ]
    readings = history.readings_of(measured)
    if step < genesis.steps:
        both = [s for pair in series.values() for s in pair]
        expected = forecasts(forecaster, both, step + offset, genesis.horizon, steps_per_day)
    else:
        expected = [np.zeros(genesis.horizon)] * (2 * len(series))
    offers = []
    for i, index in enumerate(series):
        household = genesis.members[index].household
        p, c = expected[2 * i], expected[2 * i + 1]
        meter, (own, shared) = readings[household]
        if not meter or meter[-1].step != step - 1:
            own, shared = state.soc[index], state.shared_soc[index]
        offers.append(
            Offer(
                chain_id=genesis.chain_id,
                step=step,
                household=household,
                soc_kwh=own,
                shared_soc_kwh=shared,
                production_kwh=np.maximum(p, 0.0),
                consumption_kwh=np.maximum(c, 0.0),
                meter=tuple(meter),
            )
        )
    return offers
