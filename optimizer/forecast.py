"""Forecasters: what a household expects of its own production and consumption over the horizon.

The perfect forecaster reads the true future. The others see only the household's own past: they are
called with the values before the step being forecast and nothing else.
"""

from __future__ import annotations

import numpy as np

from optimizer.flows import Array

FORECASTERS = ("perfect", "persistence", "seasonal_naive")


def perfect_forecast(series: Array, index: int, horizon: int, steps_per_day: int) -> Array:
    """The true values ``series[index : index + horizon]``.

    Where the data ends before the horizon does, each missing step takes the value of the last day of
    data at the same time of day (or the last value when there is less than a day of data).
    """
    if index >= series.size:
        raise IndexError(f"step {index} is beyond the {series.size} steps of data")
    out = np.empty(horizon, dtype=np.float64)
    known = min(horizon, series.size - index)
    out[:known] = series[index : index + known]
    for k in range(known, horizon):
        j = index + k
        while j >= series.size:
            j -= steps_per_day
        out[k] = series[j] if j >= 0 else series[-1]
    return out


def persistence(past: Array, horizon: int, steps_per_day: int) -> Array:
    """The last measured value, for every step of the horizon (zero with no past)."""
    return np.full(horizon, past[-1] if past.size else 0.0, dtype=np.float64)


def seasonal_naive(past: Array, horizon: int, steps_per_day: int) -> Array:
    """Each step as it was at the same time of day on the last day measured; persistence while the past
    is shorter than a day."""
    if past.size < steps_per_day:
        return persistence(past, horizon, steps_per_day)
    last_day = past[-steps_per_day:]
    return np.resize(last_day, horizon).astype(np.float64)


def forecast(kind: str, series: Array, index: int, horizon: int, steps_per_day: int) -> Array:
    """The forecast of ``series`` from ``index`` on; only ``perfect`` looks at ``series[index:]``."""
    if kind == "perfect":
        return perfect_forecast(series, index, horizon, steps_per_day)
    past = series[:index]
    if kind == "persistence":
        return persistence(past, horizon, steps_per_day)
    if kind == "seasonal_naive":
        return seasonal_naive(past, horizon, steps_per_day)
    raise ValueError(f"unknown forecaster {kind!r}; use one of {', '.join(FORECASTERS)}")
