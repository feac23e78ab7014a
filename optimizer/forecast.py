"""Forecasters: what a household expects of its own production and consumption over the horizon.

The perfect forecaster reads the true future. The others see only the household's own past: they are
called with the values before the step being forecast and nothing else. ``profile_blend`` is the
realistic one (it beats both naive ones on the shipped data; see README, Forecasts, and
``bench/forecasters.py``). This module imports numpy alone: every node process imports it.
"""

from __future__ import annotations

import numpy as np

from optimizer.flows import Array

FORECASTERS = ("perfect", "persistence", "seasonal_naive", "profile_blend")

PROFILE_DAYS = 28
"""Days of past ``profile_blend`` looks at (fewer when it has fewer)."""
SOLAR_ZERO_SHARE = 0.2
"""A series is forecast as solar when at least this share of its recent past is exactly zero (nights)."""
SOLAR_DAY_WEIGHT = 0.8
"""Solar profile: weight of a day relative to the day after it (exponentially weighted mean)."""
SOLAR_RECENT_STEPS = 4
"""Solar: the cloudiness ratio compares this many last steps with the profile at the same times."""
SOLAR_RATIO_DECAY = 0.98
"""Solar: per step of lead, how much of the cloudiness ratio's departure from 1 remains."""
SOLAR_RATIO_MAX = 1.5
"""Solar: the cloudiness ratios are clipped to ``[0, SOLAR_RATIO_MAX]``."""
SOLAR_DAY_PERSISTENCE = 0.4
"""Solar: share of the last day's ratio to the profile that the forecast keeps at long leads (weather
spells last beyond a day)."""
LOAD_ANOMALY_DECAY = 0.5
"""Load: per step of lead, how much of the last value's departure from the profile remains."""


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


def profile_blend(past: Array, horizon: int, steps_per_day: int) -> Array:
    """A time-of-day profile of the last (up to) ``PROFILE_DAYS`` days, corrected by the recent past.

    With ``n`` whole days of past, the matrix ``M`` (n, steps_per_day) holds them so that column ``c``
    is at the time of day of lead ``c``; lead ``k`` (0 = the step being forecast) uses column
    ``k mod steps_per_day``. Two cases, told apart by the past alone:

    * solar (at least ``SOLAR_ZERO_SHARE`` of the values are exactly zero): the profile ``p`` is the
      exponentially weighted mean of the days (weight ``SOLAR_DAY_WEIGHT ** age``), ``r`` the ratio of
      the last ``SOLAR_RECENT_STEPS`` values to the profile at those times (1 where the profile is
      zero there, clipped to ``[0, SOLAR_RATIO_MAX]``), ``R`` the same ratio over the last whole day and
      ``s = 1 + SOLAR_DAY_PERSISTENCE * (R - 1)``; then
      ``f[k] = p[k] * (s + (r - s) * SOLAR_RATIO_DECAY ** (k + 1))``: the cloudiness of the last hour,
      fading into part of the last day's;
    * load: the profile ``p`` is the mean of the days (not their median, which has a lower absolute error
      but misses the energy of the spikes: a market planning on it leaves the evening peak short; see
      README, Forecasts), ``a`` the last value minus the profile at its time, and
      ``f[k] = max(0, p[k] + a * LOAD_ANOMALY_DECAY ** (k + 1))``.

    With less than a day of past it is persistence. The constants were tuned on the shipped data (a
    grid search on 10 of its 40 households; README, Forecasts).
    """
    spd = steps_per_day
    days = min(PROFILE_DAYS, past.size // spd) if spd > 0 else 0
    if days == 0:
        return persistence(past, horizon, steps_per_day)
    m = np.asarray(past[past.size - days * spd :], dtype=np.float64).reshape(days, spd)
    lead = np.arange(horizon)
    if np.count_nonzero(m == 0.0) >= SOLAR_ZERO_SHARE * m.size:
        weights = SOLAR_DAY_WEIGHT ** np.arange(days - 1, -1, -1, dtype=np.float64)
        # elementwise, not a matrix product: BLAS kernels differ between machines (a container's, a
        # host's), and every process must forecast the same bits
        profile = np.add.reduce(weights[:, None] * m, axis=0) / weights.sum()
        recent = min(SOLAR_RECENT_STEPS, spd)
        expected = float(profile[spd - recent :].sum())
        ratio = float(m[-1, spd - recent :].sum()) / expected if expected > 1e-9 else 1.0
        ratio = min(max(ratio, 0.0), SOLAR_RATIO_MAX)
        total = float(profile.sum())
        day_ratio = min(max(float(m[-1].sum()) / total, 0.0), SOLAR_RATIO_MAX) if total > 1e-9 else 1.0
        settled = 1.0 + SOLAR_DAY_PERSISTENCE * (day_ratio - 1.0)
        out = profile[lead % spd] * (settled + (ratio - settled) * SOLAR_RATIO_DECAY ** (lead + 1.0))
    else:
        profile = m.mean(axis=0)
        anomaly = float(m[-1, -1] - profile[-1])
        out = profile[lead % spd] + anomaly * LOAD_ANOMALY_DECAY ** (lead + 1.0)
    result: Array = np.maximum(out, 0.0)
    return result


def profile_blends(pasts: Array, horizon: int, steps_per_day: int) -> Array:
    """``profile_blend`` of each row of ``pasts`` (K series of one length) at once, row ``k`` of the result
    bit for bit ``profile_blend(pasts[k], ...)``: the same operations in the same order, a series' sums
    over its days taken one day after the other and its sums over a day along the day, as there."""
    spd = steps_per_day
    k, size = pasts.shape
    days = min(PROFILE_DAYS, size // spd) if spd > 0 else 0
    if days == 0 or k == 0:
        return np.array([profile_blend(row, horizon, steps_per_day) for row in pasts]).reshape(k, horizon)
    m = np.asarray(pasts[:, size - days * spd :], dtype=np.float64).reshape(k, days, spd)
    lead = np.arange(horizon)
    at = lead % spd
    out = np.empty((k, horizon), dtype=np.float64)
    solar = np.count_nonzero(m == 0.0, axis=(1, 2)) >= SOLAR_ZERO_SHARE * (days * spd)
    if solar.any():
        s = m[solar]
        weights = SOLAR_DAY_WEIGHT ** np.arange(days - 1, -1, -1, dtype=np.float64)
        profile = np.add.reduce(weights[None, :, None] * s, axis=1) / weights.sum()
        recent = min(SOLAR_RECENT_STEPS, spd)
        expected = np.add.reduce(profile[:, spd - recent :], axis=1)
        got = np.add.reduce(s[:, -1, spd - recent :], axis=1)
        ratio = np.clip(np.divide(got, expected, out=np.ones_like(got), where=expected > 1e-9), 0.0, SOLAR_RATIO_MAX)
        total = np.add.reduce(profile, axis=1)
        day = np.add.reduce(s[:, -1], axis=1)
        day_ratio = np.clip(np.divide(day, total, out=np.ones_like(day), where=total > 1e-9), 0.0, SOLAR_RATIO_MAX)
        settled = 1.0 + SOLAR_DAY_PERSISTENCE * (day_ratio - 1.0)
        fade = SOLAR_RATIO_DECAY ** (lead + 1.0)
        out[solar] = profile[:, at] * (settled[:, None] + (ratio - settled)[:, None] * fade[None, :])
    if not solar.all():
        load = m[~solar]
        profile = load.mean(axis=1)
        anomaly = load[:, -1, -1] - profile[:, -1]
        out[~solar] = profile[:, at] + anomaly[:, None] * LOAD_ANOMALY_DECAY ** (lead + 1.0)
    result: Array = np.maximum(out, 0.0)
    return result


def forecasts(kind: str, series: list[Array], index: int, horizon: int, steps_per_day: int) -> list[Array]:
    """``forecast`` of several series at one index; ``profile_blend`` computes them together
    (``profile_blends``), with the same bits."""
    if kind == "profile_blend" and len(series) > 1 and len({s.size for s in series}) == 1:
        first = max(0, index - PROFILE_DAYS * steps_per_day)  # the days it looks at, whatever the past's length
        return list(profile_blends(np.stack([s[first:index] for s in series]), horizon, steps_per_day))
    return [forecast(kind, s, index, horizon, steps_per_day) for s in series]


def forecast(kind: str, series: Array, index: int, horizon: int, steps_per_day: int) -> Array:
    """The forecast of ``series`` from ``index`` on; only ``perfect`` looks at ``series[index:]``."""
    if kind == "perfect":
        return perfect_forecast(series, index, horizon, steps_per_day)
    past = series[:index]
    if kind == "persistence":
        return persistence(past, horizon, steps_per_day)
    if kind == "seasonal_naive":
        return seasonal_naive(past, horizon, steps_per_day)
    if kind == "profile_blend":
        return profile_blend(past, horizon, steps_per_day)
    raise ValueError(f"unknown forecaster {kind!r}; use one of {', '.join(FORECASTERS)}")
