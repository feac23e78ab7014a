"""Forecasters: what a household expects of its own production and consumption over the horizon."""

from __future__ import annotations

import numpy as np

from optimizer.flows import Array

FORECASTERS = ("perfect",)


def perfect_forecast(series: Array, index: int, horizon: int, steps_per_day: int) -> Array:
    """The true values ``series[index : index + horizon]``.

    Where the data ends before the horizon does, each missing step repeats the step one day earlier
    (or the last known value when there is less than a day of data).
    """
    if index >= series.size:
        raise IndexError(f"step {index} is beyond the {series.size} steps of data")
    out = np.empty(horizon, dtype=np.float64)
    known = min(horizon, series.size - index)
    out[:known] = series[index : index + known]
    for k in range(known, horizon):
        back = k - steps_per_day
        out[k] = out[back] if back >= 0 else out[k - 1]
    return out
