"""The in-process engine: the same offers, clearing and settlement as the distributed run, in one process.

Given the same inputs it produces the same settlements as the cluster: the network changes nothing but
time.
"""

from __future__ import annotations

from collections.abc import Callable

from chain.blocks import MarketPrices
from chain.genesis import Genesis
from chain.offers import Offer
from chain.rules import advance_state, genesis_state
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
    state = genesis_state(genesis)
    last_offers: dict[str, Offer] = {}
    records = []
    for step in range(genesis.steps):
        offers = {
            hid: build_offer(genesis, state, i, step, data.production[i], data.consumption[i])
            for i, hid in enumerate(ids)
        }
        w = grid.window(step, genesis.horizon)
        outcome = clear_step(market, genesis, step, offers, last_offers, state, w)
        last_offers.update(offers)
        p = outcome.prices
        prices = MarketPrices(p.grid_buy, p.grid_sell, p.p2p)
        state = advance_state(state, b"", step, outcome.settlements, prices)
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
