"""``ets bound``: a run's gap to the perfect-foresight optimum, from its run directory alone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from chain.genesis import Genesis
from ets.results.tables import read_csv
from ets.run.layout import RunLayout
from optimizer.bound import perfect_foresight
from optimizer.valuation import Valuation
from runtime.data import HouseholdData, run_data, run_window
from runtime.grid import GridSeries, grid_series
from runtime.market_setup import market_config, storage_of
from runtime.params import Params

MIN_POSSIBLE_SAVING = 0.01
"""Below this share of the baseline's total cost the optimum's saving is too small to measure a run by."""


@dataclass(frozen=True, slots=True)
class Gap:
    optimum: float
    """The optimum's value cost ($, ``optimizer.valuation``: cash - terminal value of storage left + value
    of lost load)."""
    run: float
    """The run's value cost, scored the same way ($)."""
    baseline: float
    """The baseline's value cost, scored the same way ($)."""
    status: str
    solve_seconds: float
    reference: float = 0.0
    """The baseline's total cost ($: grid purchases, fees and the value of its lost load), what the gap is
    a share of (value costs cross zero: a share of the optimum's would mean nothing where it is near zero)."""

    @property
    def gap(self) -> float:
        return self.run - self.optimum

    @property
    def gap_pct(self) -> float:
        """The gap as a share of the baseline's total cost (%)."""
        return 100.0 * self.gap / self.reference if self.reference > 0 else 0.0

    @property
    def possible(self) -> float:
        """The saving the optimum makes over the baseline ($)."""
        return self.baseline - self.optimum

    @property
    def captured_pct(self) -> float | None:
        """How much of the saving the optimum makes over the baseline the run achieved (%); None where the
        optimum saves less than ``MIN_POSSIBLE_SAVING`` of the baseline's total cost (too little to share)."""
        if self.possible <= max(0.01, MIN_POSSIBLE_SAVING * self.reference):
            return None
        return 100.0 * (self.baseline - self.run) / self.possible

    def to_json(self) -> dict[str, float | str | None]:
        """What ``summary.json`` says; figures of an optimum that was not found are null (never NaN, which
        JSON has no word for)."""
        return {
            "status": self.status,
            "optimum_value_cost": _finite(self.optimum),
            "run_value_cost": self.run,
            "baseline_value_cost": self.baseline,
            "gap": _finite(self.gap),
            "gap_pct": _finite(self.gap_pct),
            "gap_pct_basis": "the baseline's total cost: grid purchases, fees and the value of its lost load",
            "possible_saving": _finite(self.possible),
            "saving_captured_pct": _finite(self.captured_pct),
            "solve_seconds": self.solve_seconds,
        }


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def frame_value_cost(frame: pd.DataFrame, valuation: Valuation) -> float:
    """A result table's value cost: what it paid, less what it has stored at the end, plus what it left
    unserved, valued (``optimizer.valuation``)."""
    last = frame[frame["step"] == frame["step"].max()]
    return valuation.cost(
        float(frame["cost"].sum()),
        float((last["stored_kwh"] + last["community_stored_kwh"]).sum()),
        float(frame["unserved_kwh"].sum()),
    )


def total_cost(frame: pd.DataFrame, valuation: Valuation) -> float:
    """What a result table paid for, as ``summary.json``'s ``saving_pct`` is a share of: grid purchases,
    fees and the value of its lost load ($)."""
    purchases = float((frame["grid_buy"] * frame["grid_buy_price"]).sum()) + float(frame["fees"].sum())
    return purchases + valuation.value_of_lost_load * float(frame["unserved_kwh"].sum())


def gap_to_optimum(
    genesis: Genesis,
    params: Params,
    optimized: pd.DataFrame,
    baseline: pd.DataFrame,
    grid: GridSeries | None = None,
    data: HouseholdData | None = None,
    steps: int | None = None,
) -> Gap:
    """The gap; ``grid`` and ``data`` are computed from the parameters unless the caller has them. Over the
    first ``steps`` steps (a run that ended early: the steps it sealed), all of the run's by default."""
    steps = genesis.steps if steps is None else steps
    production, consumption = run_window(genesis, data or run_data(genesis, params))
    production, consumption = production[:, :steps], consumption[:, :steps]
    grid = grid or grid_series(params, genesis.steps + genesis.horizon, len(genesis.members))
    config = market_config(params, genesis.dt_hours, genesis.horizon)
    storage = storage_of(genesis)
    bound = perfect_foresight(
        storage,
        production,
        consumption,
        np.array([m.battery.initial_soc_kwh for m in genesis.members]),
        np.array([m.shared_battery.initial_soc_kwh for m in genesis.members]),
        grid.window(0, steps),
        genesis.dt_hours,
        config.costs,
        solver=config.solver,
        topology=config.topology,
        neighbours=config.neighbours,
        terminal_value=config.terminal_value,
        value_of_lost_load=config.value_of_lost_load,
        path=config.path,
    )
    return Gap(
        bound.value_cost,
        frame_value_cost(optimized, config.valuation),
        frame_value_cost(baseline, config.valuation),
        bound.status,
        bound.solve_seconds,
        total_cost(baseline, config.valuation),
    )


def gap_of_run(run_dir: Path) -> Gap:
    """The gap of a run directory's results: over the steps its optimized results cover."""
    layout = RunLayout(Path(run_dir))
    genesis = Genesis.load(layout.genesis)
    params = Params.load(layout.params)
    optimized = read_csv(layout.root / "optimized_results.csv")
    baseline = read_csv(layout.root / "baseline_results.csv")
    steps = int(optimized["step"].nunique())
    return gap_to_optimum(genesis, params, optimized, baseline[baseline["step"] < steps], steps=steps)
