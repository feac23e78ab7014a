"""The baseline: the same data, batteries and grid, every household alone, no network."""

from __future__ import annotations

import numpy as np

from chain.blocks import MarketPrices
from chain.genesis import Genesis
from ets.results.tables import StepRecord
from optimizer.baseline import baseline_step
from optimizer.settlement import StorageStates, settlements_from_flows
from runtime.data import HouseholdData, run_window
from runtime.grid import GridSeries
from runtime.market_setup import storage_of


def run_baseline(genesis: Genesis, data: HouseholdData, grid: GridSeries) -> list[StepRecord]:
    storage = storage_of(genesis)
    soc = np.array([m.battery.initial_soc_kwh for m in genesis.members])
    shared = np.array([m.shared_battery.initial_soc_kwh for m in genesis.members])
    dt = genesis.dt_hours
    ids = genesis.household_ids
    records = []
    production, consumption = run_window(genesis, data)
    for step in range(genesis.steps):
        limits = float(grid.import_kw[step]) * dt, float(grid.export_kw[step]) * dt
        flows, soc_after, shared_after = baseline_step(
            production[:, step], consumption[:, step], soc, shared, storage, dt, *limits
        )
        states = StorageStates(soc, soc_after, shared, shared_after)
        settlements = settlements_from_flows(ids, "alone", flows, states, 0.0, genesis.community_fee_per_kwh)
        prices = MarketPrices(float(grid.buy_price[step]), float(grid.sell_price[step]), 0.0)
        records.append(
            StepRecord(step, settlements, prices, float(grid.import_kw[step]), float(grid.export_kw[step]), ())
        )
        soc, shared = soc_after, shared_after
    return records
