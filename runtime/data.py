"""Household meter data: the long format (``id, step, production, consumption``) from CSV or Parquet.

Energies are kWh per data step. The loader picks households and a step window and resamples to the
run's step length (summing whole groups of data steps, or splitting each data step evenly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from chain.errors import InputError
from chain.genesis import Genesis
from runtime.tables import checked_numbers, first_duplicate, read_columns, where

if TYPE_CHECKING:
    from runtime.params import Params

COLUMNS = ("id", "step", "production", "consumption")

HISTORY_DAYS = 28
"""Days of each household's past before the run that it may forecast from (``optimizer.forecast``'s
``profile_blend`` looks back as far)."""


@dataclass(frozen=True, slots=True)
class HouseholdData:
    """Meter series of some households on the run's step grid."""

    ids: tuple[str, ...]
    production: npt.NDArray[np.float64]
    """kWh per run step, shape (households, steps)."""
    consumption: npt.NDArray[np.float64]
    """kWh per run step, shape (households, steps)."""
    dt_hours: float
    first_step: int
    """Run step of column 0."""

    @property
    def steps(self) -> int:
        return int(self.production.shape[1])

    def row(self, household: str) -> int:
        return self.ids.index(household)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file and check its columns and values, naming file, column and row."""
    path = Path(path)
    df = read_columns(path, COLUMNS)[list(COLUMNS)].copy()
    df["id"] = df["id"].astype(str)
    df["step"] = checked_numbers(df, "step", path, whole=True, problem="is not a non-negative whole number")
    df["step"] = df["step"].astype(np.int64)
    for col in ("production", "consumption"):
        df[col] = checked_numbers(df, col, path, problem="is negative or not a number").astype(np.float64)
    i = first_duplicate(df, ["id", "step"])
    if i is not None:
        raise InputError(
            f"{path}: {where(path, i)}: household {df['id'].iloc[i]!r} step {df['step'].iloc[i]} appears twice"
        )
    return df


class TooFewSteps(InputError):
    """The file ends before the window asked for; ``available`` is its number of steps (of the run's length)."""

    def __init__(self, message: str, available: int) -> None:
        super().__init__(message)
        self.available = available


def window_message(path: Path, available: int, dt_hours: float, start_step: int, steps: int) -> str:
    """Why the window ``start_step``, ``steps`` (as the user gave them) does not fit a file of ``available``
    steps, and what would."""
    last = available - 1
    fits = (
        f"from step {start_step} it has {available - start_step} steps (-s {available - start_step})"
        if start_step < available
        else f"step {start_step} is past its end"
    )
    latest = (
        f"; for {steps} steps the start step can be at most {available - steps} (--start-step)"
        if steps <= available
        else f"; it is shorter than {steps} steps"
    )
    return (
        f"{path}: the run asks for steps {start_step} to {start_step + steps - 1} (start step {start_step}, "
        f"{steps} steps of {dt_hours:g} h), the file has steps 0 to {last}: {fits}{latest}"
    )


def household_ids(path: Path) -> list[str]:
    """Household ids in the order they first appear in the file."""
    return [str(x) for x in pd.unique(read_table(path)["id"])]


def load_households(
    path: Path,
    households: int | Sequence[str],
    *,
    start_step: int,
    steps: int,
    dt_hours: float,
    data_dt_hours: float,
    extra_steps: int = 0,
    scale: float = 1.0,
) -> HouseholdData:
    """Series for ``households`` (the first N ids, or these ids) over run steps
    ``start_step .. start_step + steps - 1``, plus up to ``extra_steps`` more where the file has them
    (forecast horizon). Raises ``InputError`` naming the file for every problem.
    """
    path = Path(path)
    df = read_table(path)
    known = [str(x) for x in pd.unique(df["id"])]
    if isinstance(households, int):
        if households > len(known):
            raise InputError(f"{path}: asked for {households} households, the file has {len(known)}")
        ids = known[:households]
    else:
        ids = list(households)
        unknown = [h for h in ids if h not in known]
        if unknown:
            raise InputError(f"{path}: unknown household id(s) {', '.join(map(repr, unknown))}")
    factor, split = _resample_factor(dt_hours, data_dt_hours)
    prod_rows, cons_rows = [], []
    parts = {str(key): part for key, part in df[df["id"].isin(ids)].groupby("id", sort=False)}  # one pass
    for hid in ids:
        part = parts[hid].sort_values("step")
        step_values = part["step"].to_numpy()
        expected = np.arange(step_values.size)
        if step_values.size == 0 or not np.array_equal(step_values, expected):
            gap = int(expected[np.argmax(step_values != expected)]) if step_values.size else 0
            raise InputError(
                f"{path}: household {hid!r}: steps must run 0, 1, 2, ... without gaps; step {gap} is missing"
            )
        prod_rows.append(_resample(part["production"].to_numpy(), factor, split) * scale)
        cons_rows.append(_resample(part["consumption"].to_numpy(), factor, split))
    available = min(r.size for r in prod_rows)
    if available < start_step + steps:
        raise TooFewSteps(
            f"{path}: has {available} steps of {dt_hours} h per household, the run needs {start_step + steps} "
            f"(start {start_step} + {steps} steps)",
            available,
        )
    end = min(available, start_step + steps + extra_steps)
    return HouseholdData(
        ids=tuple(ids),
        production=np.array([r[start_step:end] for r in prod_rows], dtype=np.float64),
        consumption=np.array([r[start_step:end] for r in cons_rows], dtype=np.float64),
        dt_hours=dt_hours,
        first_step=start_step,
    )


def _resample_factor(dt_hours: float, data_dt_hours: float) -> tuple[int, bool]:
    ratio = dt_hours / data_dt_hours
    if abs(ratio - round(ratio)) < 1e-9 and round(ratio) >= 1:
        return round(ratio), False
    inverse = data_dt_hours / dt_hours
    if abs(inverse - round(inverse)) < 1e-9:
        return round(inverse), True
    raise InputError(f"a step of {dt_hours} h cannot be made from data steps of {data_dt_hours} h")


def _resample(values: npt.NDArray[np.float64], factor: int, split: bool) -> npt.NDArray[np.float64]:
    if factor == 1:
        return np.asarray(values, dtype=np.float64)
    if split:
        return np.repeat(values / factor, factor)
    whole = values.size // factor
    summed: npt.NDArray[np.float64] = values[: whole * factor].reshape(whole, factor).sum(axis=1)
    return summed


def run_data(
    genesis: Genesis, params: Params, ids: Sequence[str] | None = None, path: Path | None = None
) -> HouseholdData:
    """Households' series for the run: up to ``HISTORY_DAYS`` days of their past before it (for forecasters
    that look back), the run, and the horizon beyond its end (where the file has them). Run step ``t`` is
    at position ``t + genesis.start_step - data.first_step``; nodes get the same window in their meter
    files (``runtime.meters``), so they forecast from the same past."""
    history = min(genesis.start_step, HISTORY_DAYS * max(1, round(24 / genesis.dt_hours)))
    source = path or Path(params.household.data_file)
    try:
        return load_households(
            source,
            list(ids if ids is not None else genesis.household_ids),
            start_step=genesis.start_step - history,
            steps=genesis.steps + history,
            dt_hours=genesis.dt_hours,
            data_dt_hours=params.household.data_step_hours,
            extra_steps=genesis.horizon - 1,
            scale=params.household.production_scale_factor,
        )
    except TooFewSteps as exc:  # in the user's terms: the history before the window is ours
        message = window_message(source, exc.available, genesis.dt_hours, genesis.start_step, genesis.steps)
        raise InputError(message) from None


def run_window(genesis: Genesis, data: HouseholdData) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(production, consumption), (N, steps): the run's own steps of ``data``."""
    offset = genesis.start_step - data.first_step
    window = slice(offset, offset + genesis.steps)
    return data.production[:, window], data.consumption[:, window]
