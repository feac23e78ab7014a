"""What the city grid offers the community each step: buy/sell prices and the transformer's limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from chain.errors import InputError
from ets.params import Params
from optimizer.flows import GridWindow

UNLIMITED_KW = 1e9
"""Capacity used when limits are off (kW): large enough never to bind, finite for the solver."""

CAPACITY_COLUMNS = ("timestep", "import_capacity_kw", "export_capacity_kw")


@dataclass(frozen=True, slots=True)
class GridSeries:
    """Per run step, starting at run step ``first_step``."""

    buy_price: npt.NDArray[np.float64]
    """$/kWh"""
    sell_price: npt.NDArray[np.float64]
    """$/kWh"""
    import_kw: npt.NDArray[np.float64]
    """kW"""
    export_kw: npt.NDArray[np.float64]
    """kW"""
    first_step: int

    def window(self, step: int, length: int) -> GridWindow:
        """``length`` steps from run step ``step`` (relative to the run start), repeating the last value."""
        idx = np.minimum(np.arange(step, step + length), self.buy_price.size - 1)
        return GridWindow(self.buy_price[idx], self.sell_price[idx], self.import_kw[idx], self.export_kw[idx])


def grid_series(params: Params, steps: int) -> GridSeries:
    """Prices and capacities for ``steps`` run steps from ``simulation.start_step``."""
    start = params.simulation.start_step
    dt = params.simulation.time_step_hours
    buy, sell = _prices(params, start, steps, dt)
    if not np.all(sell < buy):
        i = int(np.argmax(sell >= buy))
        raise InputError(f"grid prices: sell price {sell[i]} is not below buy price {buy[i]} at step {start + i}")
    cap = params.grid_capacity
    if not cap.use_capacity_limits:
        imp = np.full(steps, UNLIMITED_KW)
        exp = np.full(steps, UNLIMITED_KW)
    elif cap.file:
        imp, exp = load_capacity(Path(cap.file), start, steps)
    else:
        imp = np.full(steps, cap.import_capacity_kw)
        exp = np.full(steps, cap.export_capacity_kw)
    return GridSeries(buy, sell, imp, exp, start)


def _prices(
    params: Params, start: int, steps: int, dt: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    g = params.grid_price
    if g.mode == "random_uniform":
        rng = np.random.default_rng(params.simulation.seed)
        draws = rng.uniform(size=(start + steps, 2))[start:]
        buy = g.min_buy_price + draws[:, 0] * (g.max_buy_price - g.min_buy_price)
        sell = g.min_sell_price + draws[:, 1] * (g.max_sell_price - g.min_sell_price)
        return buy, sell
    hour = (np.arange(start, start + steps) * dt) % 24.0
    if g.peak_start_hour <= g.peak_end_hour:
        peak = (hour >= g.peak_start_hour) & (hour < g.peak_end_hour)
    else:
        peak = (hour >= g.peak_start_hour) | (hour < g.peak_end_hour)
    buy = np.where(peak, g.peak_buy_price, g.offpeak_buy_price).astype(np.float64)
    return buy, np.full(steps, g.sell_price, dtype=np.float64)


def load_capacity(path: Path, start: int, steps: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Import/export limits (kW) for run steps ``start .. start + steps - 1`` from a capacity file."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    missing = [c for c in CAPACITY_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    for col in CAPACITY_COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: column {col!r}, row {i}: value {df[col].iloc[i]!r} is negative or not a number")
        df[col] = values
    df = df.sort_values("timestep")
    steps_in_file = df["timestep"].to_numpy()
    needed = np.arange(start, start + steps)
    if not np.isin(needed, steps_in_file).all():
        missing_step = int(needed[~np.isin(needed, steps_in_file)][0])
        raise InputError(f"{path}: no row for timestep {missing_step} (the run needs {start}..{start + steps - 1})")
    indexed = df.set_index("timestep")
    return (
        indexed.loc[needed, "import_capacity_kw"].to_numpy(dtype=np.float64),
        indexed.loc[needed, "export_capacity_kw"].to_numpy(dtype=np.float64),
    )
