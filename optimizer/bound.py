"""The perfect-foresight optimum: one linear programme over the whole run with the true data.

It is the clearing model itself with the horizon stretched over every step of the run, so it obeys the
same physics, limits, topology and costs, and values what is left in storage at the end the same way.
No run, however well forecast, can do better; the gap to it measures the market.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.clearing import OPTIMAL, Costs, MarketInputs, build_model
from optimizer.flows import Array, GridWindow, Storage


@dataclass(frozen=True, slots=True)
class Bound:
    status: str
    objective: float
    """Cash cost + wear + penalties - terminal value of what is stored at the end ($)."""
    solve_seconds: float


def run_objective(
    cash_cost: float,
    throughput_kwh: float,
    unserved_kwh: float,
    curtailed_kwh: float,
    final_stored_kwh: float,
    costs: Costs,
    terminal_value: float,
) -> float:
    """A run scored like the optimum: what it paid, plus wear and penalties, minus what it has left."""
    return (
        cash_cost
        + costs.battery_wear * throughput_kwh
        + costs.unserved_penalty * unserved_kwh
        + costs.curtailment_penalty * curtailed_kwh
        - terminal_value * final_stored_kwh
    )


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
) -> Bound:
    """Solve the whole run at once. ``production``/``consumption`` are (N, S); ``grid`` covers the S steps."""
    steps = production.shape[1]
    model = build_model(storage, steps, dt_hours, costs, solver, topology, neighbours)
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
    return Bound(OPTIMAL, result.objective, result.solve_seconds)
