"""Forecasters: the perfect one reads the future; the others never read past the current step."""

from __future__ import annotations

import numpy as np
import pytest

from ets.cli.common import PROJECT_ROOT
from optimizer.forecast import (
    FORECASTERS,
    LOAD_ANOMALY_DECAY,
    SOLAR_DAY_PERSISTENCE,
    SOLAR_RATIO_DECAY,
    forecast,
    forecasts,
    perfect_forecast,
    persistence,
    profile_blend,
    profile_blends,
    seasonal_naive,
)
from optimizer.forecast_skill import forecast_errors, skill_summary, summary_issue_stride
from runtime.data import load_households

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


def test_the_poisoned_future_test_covers_profile_blend() -> None:
    assert "profile_blend" in FORECASTERS


def test_profile_blend_of_a_load_by_hand() -> None:
    """Load (no zeros): the mean of the days at each time of day (the spike of 9 counts), plus the last
    value's departure from it, halving each step of lead."""
    days = np.array([[1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.0, 6.0], [2.0, 9.0, 2.0, 8.0]])
    past = days.ravel()
    mean = np.array([2.0, 13.0 / 3.0, 2.0, 6.0])
    anomaly = 8.0 - 6.0
    expected = [mean[k % SPD] + anomaly * LOAD_ANOMALY_DECAY ** (k + 1) for k in range(6)]
    assert profile_blend(past, 6, SPD) == pytest.approx(expected)
    assert profile_blend(past, 6, SPD) == pytest.approx([3.0, 13 / 3 + 0.5, 2.25, 6.125, 2.0625, 13 / 3 + 0.03125])


def test_profile_blend_of_solar_by_hand() -> None:
    """Solar (nights at zero): identical days forecast the same day again; a cloudy last hour scales the
    profile down, the scaling fading back towards the profile with lead."""
    day = np.array([0.0, 0.0, 2.0, 2.0])
    assert profile_blend(np.tile(day, 5), 8, SPD) == pytest.approx(np.tile(day, 2))
    cloudy = np.tile(day, 5)
    cloudy[-2:] = 1.0  # the last two steps at half
    weights = 0.8 ** np.array([4.0, 3.0, 2.0, 1.0, 0.0])  # the last day weighs most
    noon = (2.0 * weights[:-1].sum() + 1.0 * weights[-1]) / weights.sum()
    profile = np.array([0.0, 0.0, noon, noon])
    ratio = (1.0 + 1.0) / (2 * noon)  # the last 4 steps (here: the last day) against the profile
    settled = 1 + SOLAR_DAY_PERSISTENCE * (ratio - 1)
    expected = [profile[k % SPD] * (settled + (ratio - settled) * SOLAR_RATIO_DECAY ** (k + 1)) for k in range(8)]
    f = profile_blend(cloudy, 8, SPD)
    assert f == pytest.approx(expected)
    assert f[2] < f[6] < noon  # the cloud persists, less so further ahead
    longer = np.concatenate([np.tile(day, 5), [0.0, 0.0, 2.0, 1.0]])  # a cloud in the last step only
    g = profile_blend(longer, 8, SPD)
    assert g[2] < g[6] < 2.0


@pytest.mark.parametrize("n", [0, 1, 3, 95, 96, 97, 7 * 96 - 1, 40 * 96])
def test_profile_blend_with_any_past(n: int) -> None:
    """Shape, finite, non-negative, deterministic; less than a day of past is persistence."""
    rng = np.random.default_rng(n)
    past = np.maximum(rng.normal(0.1, 0.3, n), 0.0)
    f = profile_blend(past, 96, 96)
    assert f.shape == (96,) and f.dtype == np.float64
    assert np.isfinite(f).all() and (f >= 0).all()
    assert np.array_equal(f, profile_blend(past.copy(), 96, 96))
    if n < 96:
        assert np.array_equal(f, persistence(past, 96, 96))
    assert profile_blend(past, 200, 96).shape == (200,)  # longer than a day


def test_profile_blend_of_nothing_but_zeros() -> None:
    assert profile_blend(np.zeros(5 * SPD), 6, SPD).tolist() == [0.0] * 6


@pytest.mark.parametrize("n", [0, 3, 95, 96, 97, 7 * 96 + 5, 40 * 96])
def test_profile_blends_is_profile_blend_bit_for_bit(n: int) -> None:
    """Series forecast together (``profile_blends``, the engine's and a node's way) carry exactly the bits of
    each forecast alone: solar, load, night, all zeros, a cloudy last hour, a dark last day."""
    rng = np.random.default_rng(n + 1)
    day = np.maximum(np.sin(np.linspace(-np.pi, 2 * np.pi, 96)), 0.0)
    days = n // 96 + 1
    solar = (np.tile(day, days) * rng.uniform(0.2, 1.5, days * 96))[:n]
    dark = solar.copy()
    dark[-96:] = 0.0
    rows = [solar, dark, rng.uniform(0.05, 2.0, n), np.zeros(n), solar * 1e-12, np.maximum(rng.normal(0, 1, n), 0)]
    pasts = np.stack(rows)
    for horizon in (1, 96, 200):
        together = profile_blends(pasts, horizon, 96)
        for k, row in enumerate(rows):
            assert together[k].tobytes() == profile_blend(row, horizon, 96).tobytes(), (n, horizon, k)


def test_profile_blends_on_the_shipped_data() -> None:
    data = _shipped(10, 35)
    series = [s for i in range(10) for s in (data.production[i], data.consumption[i])]
    for index in range(0, 35 * 96, 37):
        together = forecasts("profile_blend", series, index, 96, 96)
        for k, s in enumerate(series):
            assert together[k].tobytes() == forecast("profile_blend", s, index, 96, 96).tobytes(), (index, k)


def _shipped(households: int, days: int):  # type: ignore[no-untyped-def]
    path = PROJECT_ROOT / "household_dbs" / "community40_15min.parquet"
    return load_households(path, households, start_step=120 * 96, steps=days * 96, dt_hours=0.25, data_dt_hours=0.25)


def test_profile_blend_beats_both_naive_forecasters_on_the_shipped_data() -> None:
    """3 PV households x 4 weeks (after 28 days of past), a forecast every 3 hours: lower MAE for production,
    consumption and net load, each household."""
    data = _shipped(4, 56)
    start, steps = 28 * 96, 28 * 96 - 96 + 1
    for i in range(1, 4):
        mae = {
            kind: forecast_errors(kind, data.production[i], data.consumption[i], start, steps, 96, 96, 12).mae()
            for kind in ("persistence", "seasonal_naive", "profile_blend")
        }
        for j in range(3):
            assert mae["profile_blend"][j] < min(mae["persistence"][j], mae["seasonal_naive"][j]), (i, j, mae)


def test_skill_summary() -> None:
    data = _shipped(2, 10)
    out = skill_summary(data.production, data.consumption, 7 * 96, 96, 96, 96, "persistence", every=8)
    assert out["used"] == "persistence" and out["issued_every_steps"] == 8
    perfect, persist, blend = out["perfect"], out["persistence"], out["profile_blend"]
    assert isinstance(perfect, dict) and isinstance(persist, dict) and isinstance(blend, dict)
    assert perfect["mae_kwh"] == 0.0 and perfect["skill_vs_persistence"] == 1.0
    assert persist["skill_vs_persistence"] == 0.0
    assert blend["mae_kwh"] > 0 and blend["production_mae_kwh"] >= 0


def test_forecast_errors_count_only_known_leads() -> None:
    series = np.arange(10.0)
    e = forecast_errors("perfect", series, series, 6, 4, 8, SPD)
    assert e.count == 4 + 3 + 2 + 1 and e.mae() == (0.0, 0.0, 0.0)
    e = forecast_errors("persistence", series, np.zeros(10), 8, 1, 4, SPD)  # forecasts 7; truths 8, 9
    assert e.count == 2 and e.mae() == pytest.approx((1.5, 0.0, 1.5))


def test_summary_issue_stride() -> None:
    assert summary_issue_stride(10, 672, 96) == 4
    assert summary_issue_stride(2, 96, 96) == 1
    big = summary_issue_stride(40, 35040, 96)
    assert big > 4 and np.gcd(big, 96) == 1 and 40 * (35040 / big) <= 2000
