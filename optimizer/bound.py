"""The perfect-foresight optimum: one linear programme over the whole run with the true data.

It is the clearing model itself with the horizon stretched over every step of the run, so it obeys the
same physics, limits, topology and costs, and values what is left in storage at the end the same way.
No run, however well forecast, can do better; the gap to it measures the market.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.clearing_lp import build_clearing
from optimizer.flows import Array, GridWindow, Storage
from optimizer.programme import OPTIMAL, Costs, MarketInputs


@dataclass(frozen=True, slots=True)
class Bound:
    status: str
    objective: float
    """Cash cost + wear + penalties - terminal value of what is stored at the end ($)."""
    solve_seconds: float
    value_cost: float = float("nan")
    """The optimum as a value cost (``optimizer.valuation``): its objective without wear and penalties, with
    its unserved energy at the value of lost load ($)."""


def perfect_foresight(
    storage: Storage,
    production: Array,
    consumption: Array,
    soc: Array,
    shared_soc: Array,
    grid: GridWindow,
    dt_hours: float,
    costs: Costs,
    *,
    solver: str,
    topology: str,
    neighbours: int,
    terminal_value: float,
    value_of_lost_load: float = 0.0,
    path: str = "direct",
) -> Bound:
    """Solve the whole run at once. ``production``/``consumption`` are (N, S); ``grid`` covers the S steps."""
    steps = production.shape[1]
    model = build_clearing(storage, steps, dt_hours, costs, solver, topology, neighbours, path=path)
    inputs = MarketInputs(
        production,
        consumption,
        soc,
        shared_soc,
        grid.buy_price,
        grid.sell_price,
        np.asarray(grid.import_kw * dt_hours),
        np.asarray(grid.export_kw * dt_hours),
        terminal_value,
    )
    result = model.solve(inputs)
    if result.status != OPTIMAL:
        return Bound(result.status, float("nan"), result.solve_seconds)
    throughput, unserved, curtailed = model.horizon_totals()
    value_cost = (
        result.objective
        - costs.battery_wear * throughput
        - costs.curtailment_penalty * curtailed
        + (value_of_lost_load - costs.unserved_penalty) * unserved
    )
    return Bound(OPTIMAL, result.objective, result.solve_seconds, value_cost)
