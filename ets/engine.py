"""The in-process engine: the same offers, clearing and settlement as the distributed run, in one process.

Given the same inputs it produces the same settlements as the cluster: the network changes nothing but
time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chain.blocks import MarketPrices
from chain.genesis import Genesis
from chain.offers import Offer
from coordinator.round import clear_step
from ets.data import HouseholdData
from ets.grid import GridSeries
from ets.market_setup import market_for
from ets.params import Params
from ets.results import StepRecord
from node.offer import build_offer


def simulate(
    genesis: Genesis,
    params: Params,
    data: HouseholdData,
    grid: GridSeries,
    on_step: Callable[[int], None] | None = None,
) -> list[StepRecord]:
    market = market_for(genesis, params)
    ids = genesis.household_ids
    soc = np.array([m.battery.initial_soc_kwh for m in genesis.members])
    steps_per_day = max(1, round(24 / genesis.dt_hours))
    last_offers: dict[str, Offer] = {}
    records = []
    for step in range(genesis.steps):
        offers = {
            hid: build_offer(
                genesis.chain_id,
                step,
                hid,
                float(soc[i]),
                data.production[i],
                data.consumption[i],
                genesis.horizon,
                steps_per_day,
            )
            for i, hid in enumerate(ids)
        }
        w = grid.window(step, genesis.horizon)
        outcome = clear_step(market, genesis, step, offers, last_offers, soc, w)
        last_offers.update(offers)
        soc = np.array([s.soc_after for s in outcome.settlements])
        p = outcome.prices
        records.append(
            StepRecord(
                step,
                outcome.settlements,
                MarketPrices(p.grid_buy, p.grid_sell, p.p2p),
                float(w.import_kw[0]),
                float(w.export_kw[0]),
                outcome.trades,
            )
        )
        if on_step is not None:
            on_step(step)
    return records
