"""Grid prices and transformer limits: modes, files that round-trip, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chain.errors import InputError
from runtime.grid import (
    CAPACITY_COLUMNS,
    TARIFF_COLUMNS,
    grid_series,
    read_series,
    synthetic_capacity,
    write_capacity,
    write_tariff,
)
from runtime.metadata import read_metadata
from runtime.params import Params
from tests.conftest import cli


def params(**groups: dict[str, object]) -> Params:
    return Params().replace(simulation={"start_step": 0}, **groups)


def test_time_of_use_prices() -> None:
    g = grid_series(params(), 96, 10)
    hours = np.arange(96) / 4
    peak = (hours >= 17) & (hours < 21)
    assert (g.buy_price[peak] == 0.35).all() and (g.buy_price[~peak] == 0.15).all()
    assert (g.sell_price == 0.06).all()


def test_random_uniform_prices_are_seeded_and_in_range() -> None:
    p = params(grid_price={"mode": "random_uniform"})
    a, b = grid_series(p, 50, 10), grid_series(p, 50, 10)
    assert np.array_equal(a.buy_price, b.buy_price)
    assert a.buy_price.min() >= 0.12 and a.buy_price.max() <= 0.35
    assert (a.sell_price < a.buy_price).all()


def test_scaled_capacity_grows_with_the_community() -> None:
    assert grid_series(params(), 4, 10).import_kw[0] == pytest.approx(10.0)
    assert grid_series(params(), 4, 20).export_kw[0] == pytest.approx(50.0)
    unlimited = grid_series(params(grid_capacity={"use_capacity_limits": False}), 4, 10)
    assert unlimited.import_kw[0] >= 1e6


def test_synthetic_capacity_has_a_reduced_peak() -> None:
    imp, exp = synthetic_capacity(0, 96, 0.25, 100.0, 80.0, 0.6, 0.0, (17.0, 21.0), 1)
    assert imp[17 * 4] == pytest.approx(60.0) and imp[12 * 4] == pytest.approx(100.0)
    assert exp[20 * 4] == pytest.approx(48.0)
    noisy, _ = synthetic_capacity(0, 96, 0.25, 100.0, 80.0, 0.6, 0.1, (17.0, 21.0), 1)
    window, _ = synthetic_capacity(10, 20, 0.25, 100.0, 80.0, 0.6, 0.1, (17.0, 21.0), 1)
    assert np.array_equal(noisy[10:30], window)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_capacity_and_tariff_files_round_trip(tmp_path: Path, suffix: str) -> None:
    cap = tmp_path / f"cap{suffix}"
    imp, exp = synthetic_capacity(0, 200, 0.25, 30.0, 20.0, 0.6, 0.05, (17.0, 21.0), 3)
    write_capacity(cap, 0, imp, exp)
    tariff = tmp_path / f"tariff{suffix}"
    buy = np.linspace(0.2, 0.4, 200)
    write_tariff(tariff, 0, buy, buy / 4)
    p = params(grid_capacity={"mode": "file", "file": str(cap)}, grid_price={"mode": "file", "file": str(tariff)})
    g = grid_series(p.replace(simulation={"start_step": 50}), 100, 10)
    assert np.array_equal(g.import_kw, imp[50:150]) and np.array_equal(g.export_kw, exp[50:150])
    assert np.array_equal(g.buy_price, buy[50:150]) and np.array_equal(g.sell_price, buy[50:150] / 4)


def test_cli_writes_a_capacity_file(tmp_path: Path) -> None:
    out = tmp_path / "cap.csv"
    result = cli("grid-capacity", "generate", "--steps", "96", "--output", str(out), "--import-kw", "50", "--seed", "2")
    assert result.exit_code == 0, result.output
    imp, _ = read_series(out, CAPACITY_COLUMNS, 0, 96)
    assert imp.size == 96 and 25 < imp.mean() < 55


def _csv(path: Path, rows: dict[str, list[object]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"timestep": [0, 1], "import_capacity_kw": [1, 2]}, "missing column(s) export_capacity_kw"),
        ({"timestep": [0, 1], "import_capacity_kw": [1, -2], "export_capacity_kw": [1, 1]},
         "column 'import_capacity_kw', row 1 (line 3)"),
        ({"timestep": [0, 1], "import_capacity_kw": [1, "x"], "export_capacity_kw": [1, 1]},
         "column 'import_capacity_kw', row 1 (line 3)"),
        ({"timestep": [0, 0.5], "import_capacity_kw": [1, 1], "export_capacity_kw": [1, 1]},
         "column 'timestep', row 1 (line 3)"),
        ({"timestep": [0, 0], "import_capacity_kw": [1, 1], "export_capacity_kw": [1, 1]}, "timestep 0 appears twice"),
        ({"timestep": [0, 2], "import_capacity_kw": [1, 1], "export_capacity_kw": [1, 1]}, "no row for timestep 1"),
    ],
)  # fmt: skip
def test_bad_capacity_files(tmp_path: Path, rows: dict[str, list[object]], message: str) -> None:
    path = _csv(tmp_path / "cap.csv", rows)
    with pytest.raises(InputError) as info:
        read_series(path, CAPACITY_COLUMNS, 0, 2)
    assert str(path) in str(info.value) and message in str(info.value)


def test_bad_tariff_file_and_sell_above_buy(tmp_path: Path) -> None:
    path = _csv(tmp_path / "t.csv", {"timestep": [0, 1], "buy_price": [0.3, 0.3]})
    with pytest.raises(InputError, match="missing column"):
        read_series(path, TARIFF_COLUMNS, 0, 2)
    path = _csv(tmp_path / "t.csv", {"timestep": [0, 1], "buy_price": [0.3, 0.3], "sell_price": [0.1, 0.4]})
    p = params(grid_price={"mode": "file", "file": str(path)})
    with pytest.raises(InputError, match=r"sell price 0\.4 is not below buy price 0\.3 at timestep 1"):
        grid_series(p, 2, 1)


def test_file_mode_needs_a_file() -> None:
    with pytest.raises(InputError, match=r"grid_capacity\.file must name a file"):
        Params.from_dict({"grid_capacity": {"mode": "file"}})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns=["battery_kw"]), "missing column(s) battery_kw"),
        (lambda df: df.assign(battery_kwh=[-1.0, 5.0]), "column 'battery_kwh', row 0 (line 2)"),
        (lambda df: df.assign(occupants=[1, 9]), "column 'occupants', row 1 (line 3): value 9 is not in [1, 5]"),
        (lambda df: df.assign(id=["a", "a"]), "household 'a' appears twice"),
        (lambda df: df.assign(community_battery_share=[0.7, 0.6]), "adds up to 1.3000, more than 1"),
    ],
)
def test_bad_metadata(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    good = pd.DataFrame(
        {
            "id": ["a", "b"], "occupants": [1, 2], "pv_kwp": [0.0, 5.0], "pv_tilt_deg": [0, 30],
            "pv_azimuth_deg": [180, 180], "battery_kwh": [0.0, 5.0], "battery_kw": [0.0, 2.5],
            "community_battery_share": [0.0, 0.5],
        }
    )  # fmt: skip
    path = tmp_path / "m.meta.csv"
    change(good).to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        read_metadata(path)
    assert str(path) in str(info.value) and message in str(info.value)
