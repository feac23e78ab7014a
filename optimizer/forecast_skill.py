"""How well each forecaster would have done over a run: mean absolute error and skill against persistence.

Forecasts are issued as the nodes issue them (``forecast(kind, series, index, horizon, steps_per_day)``,
the household's own past only) at run steps ``0, every, 2 * every, ...``, and every lead of the horizon
whose true value is in the series is counted. Errors are in kWh per household-step, for production,
consumption and the net load (production - consumption, forecast as the difference of the two
forecasts). Pure numpy; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optimizer.flows import Array
from optimizer.forecast import FORECASTERS, forecast

MAX_ISSUES = 2000
"""``summary_issue_stride`` keeps households x issue times at or under this (about 0.2 s of forecasting)."""


@dataclass(frozen=True, slots=True)
class ForecastErrors:
    """Sums of absolute errors over ``count`` (issue time, lead) pairs, so households can be pooled."""

    production: float
    consumption: float
    net: float
    count: int

    def __add__(self, other: ForecastErrors) -> ForecastErrors:
        return ForecastErrors(
            self.production + other.production,
            self.consumption + other.consumption,
            self.net + other.net,
            self.count + other.count,
        )

    def mae(self) -> tuple[float, float, float]:
        """(production, consumption, net) mean absolute errors, kWh per step (zeros when nothing counted)."""
        if self.count == 0:
            return 0.0, 0.0, 0.0
        return self.production / self.count, self.consumption / self.count, self.net / self.count


def forecast_errors(
    kind: str,
    production: Array,
    consumption: Array,
    start: int,
    steps: int,
    horizon: int,
    steps_per_day: int,
    every: int = 1,
) -> ForecastErrors:
    """Absolute errors of ``kind`` on one household over run steps ``start .. start + steps - 1``.

    ``start`` is the position of the run's first step in the series (the steps before it are the
    household's past); forecasts are issued at ``start, start + every, ...`` and leads beyond the series'
    end are not counted.
    """
    size = min(production.size, consumption.size)
    issues = np.arange(start, min(start + steps, size), max(1, every))
    if issues.size == 0:
        return ForecastErrors(0.0, 0.0, 0.0, 0)
    p = np.stack([forecast(kind, production, int(t), horizon, steps_per_day) for t in issues])
    c = np.stack([forecast(kind, consumption, int(t), horizon, steps_per_day) for t in issues])
    at = issues[:, None] + np.arange(horizon)[None, :]
    known = at < size
    at = np.minimum(at, size - 1)
    p_err = np.where(known, p - production[at], 0.0)
    c_err = np.where(known, c - consumption[at], 0.0)
    return ForecastErrors(
        float(np.abs(p_err).sum()),
        float(np.abs(c_err).sum()),
        float(np.abs(p_err - c_err).sum()),
        int(known.sum()),
    )


def summary_issue_stride(households: int, steps: int, steps_per_day: int, max_issues: int = MAX_ISSUES) -> int:
    """Steps between issue times so that households x issues <= ``max_issues``.

    1 (every step, as the nodes forecast) for short runs; beyond 4 steps the stride is made coprime
    with ``steps_per_day`` so that the issue times still visit every time of day.
    """
    stride = max(1, math.ceil(households * steps / max_issues))
    if stride > 4:
        while math.gcd(stride, steps_per_day) != 1:
            stride += 1
    return stride


def skill_summary(
    production: Array,
    consumption: Array,
    start: int,
    steps: int,
    horizon: int,
    steps_per_day: int,
    used: str,
    every: int | None = None,
) -> dict[str, object]:
    """``summary.json``'s ``forecast`` entry for households' series ``production``/``consumption``
    (N, T) with the run at positions ``start .. start + steps - 1``.

    For each forecaster: ``mae_kwh`` (net load, kWh per household-step, pooled over households),
    ``production_mae_kwh``, ``consumption_mae_kwh`` and ``skill_vs_persistence`` (1 - MAE / MAE of
    persistence, on the net load; null when persistence makes no error). ``every`` defaults to
    ``summary_issue_stride``.
    """
    households = int(production.shape[0])
    stride = every if every is not None else summary_issue_stride(households, steps, steps_per_day)
    errors: dict[str, ForecastErrors] = {}
    for kind in FORECASTERS:
        total = ForecastErrors(0.0, 0.0, 0.0, 0)
        for i in range(households):
            total += forecast_errors(kind, production[i], consumption[i], start, steps, horizon, steps_per_day, stride)
        errors[kind] = total
    reference = errors["persistence"].mae()[2]
    out: dict[str, object] = {
        "used": used,
        "issued_every_steps": stride,
        "horizon_steps": horizon,
        "basis": "mean absolute error per household-step over every lead of the horizon; skill on the net load",
    }
    for kind, total in errors.items():
        prod, cons, net = total.mae()
        out[kind] = {
            "mae_kwh": net,
            "production_mae_kwh": prod,
            "consumption_mae_kwh": cons,
            "skill_vs_persistence": 1.0 - net / reference if reference > 0 else None,
        }
    return out
