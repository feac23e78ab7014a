"""The community generator: richardsonpy load and pvlib PV on the shipped weather, through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ets.datagen.community import sample_households
from ets.datagen.pv import hourly_pv_kwh, spread_over_steps
from ets.datagen.weather import load_try
from runtime.data import load_households
from runtime.metadata import read_metadata
from tests.conftest import cli


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "week.parquet"
    result = cli("data", "generate", "--households", "3", "--days", "7", "--seed", "5", "--output", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_generate_writes_loadable_data_and_metadata(generated: Path) -> None:
    data = load_households(generated, 3, start_step=0, steps=7 * 96, dt_hours=0.25, data_dt_hours=0.25)
    assert data.ids == ("h01", "h02", "h03")
    meta = read_metadata(generated.with_name("week.meta.csv"))
    assert set(meta) == set(data.ids)


def test_annual_load_is_plausible(generated: Path) -> None:
    df = pd.read_parquet(generated)
    annual = df.groupby("id")["consumption"].sum() * 365 / 7
    assert annual.between(1_500, 9_000).all(), annual


def test_pv_is_zero_at_night_and_only_where_installed(generated: Path) -> None:
    df = pd.read_parquet(generated)
    meta = read_metadata(generated.with_name("week.meta.csv"))
    hour_cet = (df["step"] % 96) / 4  # the weather's local time (UTC+1)
    night = (hour_cet < 5) | (hour_cet >= 21)  # early January
    assert (df.loc[night, "production"] == 0).all()
    for hid, m in meta.items():
        produced = df.loc[df["id"] == hid, "production"].sum()
        assert (produced > 0) == (m.pv_kwp > 0), hid


def test_generation_is_reproducible(generated: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.parquet"
    assert cli("data", "generate", "-n", "3", "-d", "7", "--seed", "5", "-o", str(again)).exit_code == 0
    assert pd.read_parquet(again).equals(pd.read_parquet(generated))
    other = tmp_path / "other.parquet"
    assert cli("data", "generate", "-n", "3", "-d", "7", "--seed", "6", "-o", str(other)).exit_code == 0
    assert not pd.read_parquet(other).equals(pd.read_parquet(generated))


def test_pv_yield_per_kwp_is_plausible_for_every_sampled_orientation() -> None:
    weather = load_try()
    for m in sample_households(40, 2010):
        if m.pv_kwp == 0:
            continue
        per_kwp = hourly_pv_kwh(weather, m.pv_kwp, m.pv_tilt_deg, m.pv_azimuth_deg).sum() / m.pv_kwp
        assert 800 <= per_kwp <= 1200, (m, per_kwp)


def test_spreading_keeps_each_hours_energy_and_the_night_dark() -> None:
    weather = load_try()
    hourly = hourly_pv_kwh(weather, 5.0, 30, 180)
    steps = spread_over_steps(weather, hourly, 4)
    assert np.allclose(steps.reshape(-1, 4).sum(axis=1), hourly)
    assert steps.min() >= 0
    local_hour = np.asarray(weather.start.tz_convert("Etc/GMT-1").hour)
    assert hourly[(local_hour < 4) | (local_hour >= 22)].max() == 0


def test_community_has_households_with_and_without_pv_and_batteries() -> None:
    metas = sample_households(40, 2010)
    assert any(m.pv_kwp == 0 for m in metas) and any(m.pv_kwp > 0 for m in metas)
    assert any(m.battery_kwh == 0 for m in metas) and any(m.battery_kwh > 0 for m in metas)
    assert 0 < sum(m.community_battery_share for m in metas) <= 1
