"""The household data loader: the long format, windows, resampling and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chain.errors import InputError
from ets.cli.common import PROJECT_ROOT
from runtime.data import load_households
from tests.conftest import cli

SEED = PROJECT_ROOT / "household_dbs" / "seed_households_15min.parquet"


def frame(steps: int = 8, ids: tuple[str, ...] = ("a", "b")) -> pd.DataFrame:
    rows = [(h, s, 0.1 * (s + 1), 0.2) for h in ids for s in range(steps)]
    return pd.DataFrame(rows, columns=["id", "step", "production", "consumption"])


def load(path: Path, households: int | list[str] = 2, steps: int = 4, dt: float = 0.25, start: int = 0):  # type: ignore[no-untyped-def]
    return load_households(path, households, start_step=start, steps=steps, dt_hours=dt, data_dt_hours=0.25)


def test_seed_data_loads() -> None:
    data = load(SEED, 5, steps=96)
    assert data.ids == ("ap1", "ap2", "ap3", "ap4", "cs1")
    assert data.production.shape == (5, 96)
    assert (data.production >= 0).all() and (data.consumption >= 0).all()


def test_csv_and_parquet_agree(tmp_path: Path) -> None:
    df = frame()
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    a, b = load(tmp_path / "d.csv"), load(tmp_path / "d.parquet")
    assert np.array_equal(a.production, b.production)


def test_window_and_aggregation(tmp_path: Path) -> None:
    frame().to_csv(tmp_path / "d.csv", index=False)
    data = load(tmp_path / "d.csv", ["b"], steps=2, dt=0.5, start=1)
    # half-hour steps sum pairs: (0.3 + 0.4), (0.5 + 0.6)
    assert data.production[0] == pytest.approx([0.7, 1.1])
    assert data.consumption[0] == pytest.approx([0.4, 0.4])


def test_splitting_into_shorter_steps(tmp_path: Path) -> None:
    frame().to_csv(tmp_path / "d.csv", index=False)
    data = load_households(tmp_path / "d.csv", 1, start_step=0, steps=4, dt_hours=0.125, data_dt_hours=0.25)
    assert data.production[0] == pytest.approx([0.05, 0.05, 0.1, 0.1])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.drop(columns=["consumption"]), "missing column(s) consumption"),
        (lambda df: df.assign(production=df["production"].where(df.index != 3, -1.0)),
         "column 'production', row 3 (line 5): value -1.0 is negative or not a number"),
        (lambda df: df.assign(consumption=df["consumption"].where(df.index != 5, np.nan)),
         "column 'consumption', row 5 (line 7)"),
        (lambda df: df.assign(step=df["step"].where(df.index != 2, 1)),
         "row 2 (line 4): household 'a' step 1 appears twice"),
        (lambda df: df[df.index != 4], "household 'a': steps must run 0, 1, 2, ... without gaps; step 4 is missing"),
        (lambda df: df.assign(step=df["step"].astype(float).where(df.index != 1, 0.5)),
         "column 'step', row 1 (line 3): value 0.5 is not a non-negative whole number"),
    ],
)  # fmt: skip
def test_bad_files_name_file_column_and_row(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "d.csv"
    mutate(frame()).to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_unknown_household(tmp_path: Path) -> None:
    frame().to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(InputError, match="unknown household id\\(s\\) 'zz'"):
        load(tmp_path / "d.csv", ["a", "zz"])


def test_too_many_households(tmp_path: Path) -> None:
    frame().to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(InputError, match="asked for 3 households, the file has 2"):
        load(tmp_path / "d.csv", 3)


def test_fewer_steps_than_asked(tmp_path: Path) -> None:
    frame().to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(
        InputError, match=r"has 8 steps of 0.25 h per household, the run needs 10 \(start 2 \+ 8 steps\)"
    ):
        load(tmp_path / "d.csv", steps=8, start=2)


def test_missing_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "nope.csv")
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(InputError, match=r"unknown format '\.xlsx'"):
        load(tmp_path / "d.xlsx")


def test_cli_reports_bad_data_file(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    frame().drop(columns=["production"]).to_csv(path, index=False)
    result = cli("run", "--data", str(path), "--results", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 2
    assert "missing column(s) production" in result.output
