"""Forecasters: the perfect one reads the future; the others never read past the current step."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.forecast import FORECASTERS, forecast, perfect_forecast, persistence, seasonal_naive

SPD = 4  # steps per day, small enough to check by hand


def test_by_hand() -> None:
    past = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert persistence(past, 3, SPD).tolist() == [6.0, 6.0, 6.0]
    # the same time of day on the last measured day: steps 2..5 are the last day; step 6 is like step 2
    assert seasonal_naive(past, 6, SPD).tolist() == [3.0, 4.0, 5.0, 6.0, 3.0, 4.0]
    assert seasonal_naive(past[:2], 2, SPD).tolist() == [2.0, 2.0]  # less than a day: persistence
    assert persistence(past[:0], 2, SPD).tolist() == [0.0, 0.0]
    series = np.arange(10.0)
    assert perfect_forecast(series, 7, 5, SPD).tolist() == [7.0, 8.0, 9.0, 6.0, 7.0]  # padded a day back


@pytest.mark.parametrize("kind", [k for k in FORECASTERS if k != "perfect"])
def test_non_perfect_forecasters_never_read_after_the_current_step(kind: str) -> None:
    """Whatever the future holds (here: poison), the forecast from step t is the same."""
    rng = np.random.default_rng(1)
    series = rng.uniform(0, 2, 60)
    for t in range(0, 50, 7):
        poisoned = series.copy()
        poisoned[t:] = np.nan
        honest = forecast(kind, series, t, 12, SPD)
        blind = forecast(kind, poisoned, t, 12, SPD)
        assert np.array_equal(honest, blind)
        assert np.isfinite(blind).all()


def test_the_perfect_forecaster_does_read_the_future() -> None:
    series = np.arange(20.0)
    poisoned = series.copy()
    poisoned[5:] = np.nan
    assert not np.isfinite(forecast("perfect", poisoned, 5, 3, SPD)).all()
