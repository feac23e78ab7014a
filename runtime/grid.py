"""What the city grid offers the community each step: buy/sell prices and the transformer's limits.

Prices: ``time_of_use`` (peak/off-peak buy price, flat feed-in price), ``random_uniform`` (the original
project's mode, seeded) or ``file`` (``timestep, buy_price, sell_price``). Limits: ``scaled`` (kW per
household times the number of households), ``constant``, ``synthetic`` (a daily peak reduction and
noise, seeded) or ``file`` (``timestep, import_capacity_kw, export_capacity_kw``, the original format).
Timesteps count run steps from the start of the data. Sell prices must be below buy prices at every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from chain.errors import InputError
from optimizer.flows import Array, GridWindow
from runtime.params import Params
from runtime.tables import checked_numbers, first_duplicate, read_columns, where

UNLIMITED_KW = 1e9
"""Capacity used when limits are off (kW): large enough never to bind, finite for the solver."""

CAPACITY_COLUMNS = ("timestep", "import_capacity_kw", "export_capacity_kw")
TARIFF_COLUMNS = ("timestep", "buy_price", "sell_price")


@dataclass(frozen=True, slots=True)
class GridSeries:
    """Per run step, starting at run step ``first_step`` of the data."""

    buy_price: Array
    """$/kWh"""
    sell_price: Array
    """$/kWh"""
    import_kw: Array
    """kW"""
    export_kw: Array
    """kW"""
    first_step: int

    def window(self, step: int, length: int) -> GridWindow:
        """``length`` steps from run step ``step`` (relative to the run start), repeating the last value."""
        idx = np.minimum(np.arange(step, step + length), self.buy_price.size - 1)
        return GridWindow(self.buy_price[idx], self.sell_price[idx], self.import_kw[idx], self.export_kw[idx])


def grid_series(params: Params, steps: int, households: int) -> GridSeries:
    """Prices and limits for ``steps`` run steps from ``simulation.start_step``."""
    start = params.simulation.start_step
    buy, sell = prices(params, start, steps)
    bad = sell >= buy
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"grid prices: sell price {sell[i]} is not below buy price {buy[i]} at timestep {start + i}")
    imp, exp = capacity(params, start, steps, households)
    return GridSeries(buy, sell, imp, exp, start)


def _hours(start: int, steps: int, dt: float) -> Array:
    return np.asarray((np.arange(start, start + steps) * dt) % 24.0, dtype=np.float64)


def _in_peak(hour: Array, window: tuple[float, float]) -> npt.NDArray[np.bool_]:
    lo, hi = window
    mask: npt.NDArray[np.bool_] = (hour >= lo) & (hour < hi) if lo <= hi else (hour >= lo) | (hour < hi)
    return mask


def prices(params: Params, start: int, steps: int) -> tuple[Array, Array]:
    g = params.grid_price
    if g.mode == "file":
        buy, sell = read_series(Path(g.file), TARIFF_COLUMNS, start, steps, what="grid_price.file")
        return buy, sell
    if g.mode == "random_uniform":
        rng = np.random.default_rng(params.simulation.seed)
        draws = rng.uniform(size=(start + steps, 2))[start:]
        buy = g.min_buy_price + draws[:, 0] * (g.max_buy_price - g.min_buy_price)
        sell = g.min_sell_price + draws[:, 1] * (g.max_sell_price - g.min_sell_price)
        return buy, sell
    peak = _in_peak(_hours(start, steps, params.simulation.time_step_hours), (g.peak_start_hour, g.peak_end_hour))
    return np.where(peak, g.peak_buy_price, g.offpeak_buy_price).astype(np.float64), np.full(steps, g.sell_price)


def capacity(params: Params, start: int, steps: int, households: int) -> tuple[Array, Array]:
    c = params.grid_capacity
    if not c.use_capacity_limits:
        return np.full(steps, UNLIMITED_KW), np.full(steps, UNLIMITED_KW)
    if c.mode == "file":
        return read_series(
            Path(c.file),
            CAPACITY_COLUMNS,
            start,
            steps,
            what="grid_capacity.file",
            remedy=f"; `ets grid-capacity generate --start-step {start} --steps {steps}` writes one that fits",
        )
    if c.mode == "scaled":
        return np.full(steps, c.import_kw_per_household * households), np.full(
            steps, c.export_kw_per_household * households
        )
    if c.mode == "synthetic":
        return synthetic_capacity(
            start,
            steps,
            params.simulation.time_step_hours,
            c.import_capacity_kw,
            c.export_capacity_kw,
            c.peak_reduction_factor,
            c.noise_std,
            (c.peak_start_hour, c.peak_end_hour),
            params.simulation.seed,
        )
    return np.full(steps, c.import_capacity_kw), np.full(steps, c.export_capacity_kw)


def synthetic_capacity(
    start: int,
    steps: int,
    dt_hours: float,
    import_kw: float,
    export_kw: float,
    peak_factor: float,
    noise_std: float,
    peak_hours: tuple[float, float],
    seed: int,
) -> tuple[Array, Array]:
    """Limits that drop to ``peak_factor`` of their base in the daily peak, times (1 + noise), never negative.

    The noise of a timestep depends only on the seed and the timestep, so any window of the same
    series gives the same values.
    """
    peak = _in_peak(_hours(start, steps, dt_hours), peak_hours)
    factor = np.where(peak, peak_factor, 1.0)
    noise = np.random.default_rng(seed).normal(0.0, noise_std, size=(start + steps, 2))[start:]
    imp = np.maximum(import_kw * factor * (1.0 + noise[:, 0]), 0.0)
    exp = np.maximum(export_kw * factor * (1.0 + noise[:, 1]), 0.0)
    return imp, exp


def write_capacity(path: Path, start: int, import_kw: Array, export_kw: Array) -> None:
    _write(path, CAPACITY_COLUMNS, start, (import_kw, export_kw))


def write_tariff(path: Path, start: int, buy: Array, sell: Array) -> None:
    _write(path, TARIFF_COLUMNS, start, (buy, sell))


def _write(path: Path, columns: Sequence[str], start: int, values: tuple[Array, Array]) -> None:
    frame = pd.DataFrame(
        {columns[0]: np.arange(start, start + values[0].size), columns[1]: values[0], columns[2]: values[1]}
    )
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, float_format="%.17g")


def read_series(
    path: Path, columns: Sequence[str], start: int, steps: int, *, what: str = "", remedy: str = ""
) -> tuple[Array, Array]:
    """Two value columns for timesteps ``start .. start + steps - 1``; errors name file, column and row.

    ``what`` names the parameter that gave the file and ``remedy`` ends the message when timesteps are
    missing."""
    df = read_columns(path, columns)
    for col in columns:
        df[col] = checked_numbers(
            df, col, path, whole=col == columns[0], problem="is not valid (negative, missing or not a number)"
        )
    i = first_duplicate(df, [columns[0]])
    if i is not None:
        raise InputError(f"{path}: {where(path, i)}: timestep {int(df[columns[0]].iloc[i])} appears twice")
    indexed = df.set_index(columns[0])
    needed = np.arange(start, start + steps)
    absent = ~np.isin(needed, indexed.index.to_numpy())
    if absent.any():
        have = indexed.index.to_numpy()
        found = f"the file has timesteps {int(have.min())}..{int(have.max())}" if have.size else "the file is empty"
        raise InputError(
            f"{path}{f' ({what})' if what else ''}: no row for timestep {int(needed[absent][0])}: {found}, and "
            f"this run needs {start}..{start + steps - 1} (timesteps count run steps from the start of the "
            f"household data: the run's start step {start}, then its steps and the forecast horizon beyond "
            f"them){remedy}"
        )
    return (
        indexed.loc[needed, columns[1]].to_numpy(dtype=np.float64),
        indexed.loc[needed, columns[2]].to_numpy(dtype=np.float64),
    )
