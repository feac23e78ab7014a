"""The baseline: the same data, batteries and grid, every household alone, no network."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chain.blocks import MarketPrices
from chain.genesis import Genesis
from ets.data import HouseholdData, load_households
from ets.grid import GridSeries
from ets.market_setup import storage_of
from ets.params import Params
from ets.results import StepRecord
from optimizer.baseline import baseline_step
from optimizer.settlement import StorageStates, settlements_from_flows


def run_data(genesis: Genesis, params: Params) -> HouseholdData:
    """Every household's series for the run plus the horizon beyond its end (where the file has it)."""
    return load_households(
        Path(params.household.data_file),
        list(genesis.household_ids),
        start_step=genesis.start_step,
        steps=genesis.steps,
        dt_hours=genesis.dt_hours,
        data_dt_hours=params.household.data_step_hours,
        extra_steps=genesis.horizon - 1,
        scale=params.household.production_scale_factor,
    )


def run_baseline(genesis: Genesis, data: HouseholdData, grid: GridSeries) -> list[StepRecord]:
    storage = storage_of(genesis)
    soc = np.array([m.battery.initial_soc_kwh for m in genesis.members])
    shared = np.array([m.shared_battery.initial_soc_kwh for m in genesis.members])
    dt = genesis.dt_hours
    ids = genesis.household_ids
    records = []
    for step in range(genesis.steps):
        limits = float(grid.import_kw[step]) * dt, float(grid.export_kw[step]) * dt
        flows, soc_after, shared_after = baseline_step(
            data.production[:, step], data.consumption[:, step], soc, shared, storage, dt, *limits
        )
        states = StorageStates(soc, soc_after, shared, shared_after)
        settlements = settlements_from_flows(ids, "alone", flows, states, 0.0, genesis.community_fee_per_kwh)
        prices = MarketPrices(float(grid.buy_price[step]), float(grid.sell_price[step]), 0.0)
        records.append(
            StepRecord(step, settlements, prices, float(grid.import_kw[step]), float(grid.export_kw[step]), ())
        )
        soc, shared = soc_after, shared_after
    return records
