"""Reading a finished run directory back for playback and reports: both result CSVs, checked against
each other, and the KPIs. Every error names the file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chain.errors import InputError
from ets.results.summary import summarize
from ets.results.tables import ORIGINAL_COLUMNS
from runtime.tables import checked_numbers, first_duplicate, read_columns, where

BASELINE_CSV = "baseline_results.csv"
OPTIMIZED_CSV = "optimized_results.csv"
SUMMARY_JSON = "summary.json"
PARAMS_JSON = "params.json"

OPTIONAL_ZERO_COLUMNS = (
    "charge_kwh",
    "discharge_kwh",
    "curtailed_kwh",
    "unserved_kwh",
    "community_stored_kwh",
    "community_capacity_kwh",
    "community_charge_kwh",
    "community_discharge_kwh",
    "fees",
    "transfer",
)
"""Columns the original project's CSVs lack; read as 0 when absent, so its runs still play back."""

_TRADE = re.compile(r"(?P<seller>[^:]+):(?P<kwh>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)(?:-|$)")


@dataclass(frozen=True, slots=True)
class P2PTrade:
    """``seller`` delivered ``kwh`` (kWh in the step) to ``buyer``."""

    seller: str
    buyer: str
    kwh: float


@dataclass(frozen=True, slots=True)
class RunClock:
    """When the run's steps happen: step ``s`` starts ``(start_step + s) * dt_hours`` hours after the
    data's first step, which is midnight (as the tariffs assume)."""

    start_step: int
    dt_hours: float

    def time_of_day(self, step: int) -> str:
        """``HH:MM`` at the start of ``step``."""
        minutes = round(((self.start_step + step) * self.dt_hours % 24.0) * 60)
        return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class RunFrames:
    """Both result tables of a run as read (rows in file order), covering the same steps and households;
    ``household_ids`` in the order of the optimized CSV, ``steps`` ascending."""

    run_dir: Path
    baseline: pd.DataFrame
    optimized: pd.DataFrame
    household_ids: tuple[str, ...]
    steps: tuple[int, ...]
    clock: RunClock | None
    """From ``params.json``; None when the run directory has none (the original project's runs)."""


def read_clock(run_dir: Path) -> RunClock | None:
    """The run's step length and first step from ``params.json``, if it has them."""
    path = run_dir / PARAMS_JSON
    try:
        simulation = json.loads(path.read_text())["simulation"]
        return RunClock(int(simulation["start_step"]), float(simulation["time_step_hours"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def parse_trades(text: str, buyer: str) -> list[P2PTrade]:
    """The trades of a ``p2p_trades`` cell, ``seller:kWh-seller:kWh`` (what ``buyer`` bought).

    Amounts may be written in exponent form (``1.5e-05``), so the cell is read left to right rather than
    split at every dash. Raises ``ValueError`` if the cell does not have that form."""
    trades: list[P2PTrade] = []
    pos = 0
    while pos < len(text):
        m = _TRADE.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read {text!r} as seller:kWh-seller:kWh")
        trades.append(P2PTrade(m["seller"], buyer, float(m["kwh"])))
        pos = m.end()
    return trades


def read_results(path: Path) -> pd.DataFrame:
    """One result CSV: the original columns required, the optional ones filled with 0, numbers checked."""
    df = read_columns(path, ORIGINAL_COLUMNS, dtypes={"p2p_trades": str, "household_id": str}).copy()
    df["p2p_trades"] = df["p2p_trades"].fillna("")
    df["household_id"] = df["household_id"].astype(str)
    for column in OPTIONAL_ZERO_COLUMNS:
        if column not in df.columns:
            df[column] = 0.0
    df["step"] = checked_numbers(df, "step", path, whole=True, problem="is not a non-negative whole number")
    df["step"] = df["step"].astype(np.int64)
    numeric = [c for c in df.columns if c not in ("step", "household_id", "p2p_trades", "mode")]
    for column in numeric:
        df[column] = checked_numbers(df, column, path, lo=-np.inf, problem="is not a number").astype(np.float64)
    i = first_duplicate(df, ["step", "household_id"])
    if i is not None:
        raise InputError(f"{path}: {where(path, i)}: household {df['household_id'].iloc[i]!r} appears twice")
    if df.empty:
        raise InputError(f"{path}: no rows")
    return df


def _grid_of(df: pd.DataFrame, path: Path) -> tuple[tuple[str, ...], tuple[int, ...]]:
    ids = tuple(str(h) for h in pd.unique(df["household_id"]))
    steps = tuple(int(s) for s in sorted(df["step"].unique()))
    if len(df) != len(ids) * len(steps):
        raise InputError(f"{path}: not one row per household per step ({len(df)} rows, {len(ids)} x {len(steps)})")
    return ids, steps


def load_run(run_dir: Path) -> RunFrames:
    """Both result CSVs of ``run_dir``; they must cover the same households and steps."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    frames = {}
    grids = {}
    for name in (BASELINE_CSV, OPTIMIZED_CSV):
        path = run_dir / name
        frames[name] = read_results(path)
        grids[name] = _grid_of(frames[name], path)
    (base_ids, base_steps), (ids, steps) = grids[BASELINE_CSV], grids[OPTIMIZED_CSV]
    if set(base_ids) == set(ids) and len(steps) < len(base_steps) and base_steps[: len(steps)] == steps:
        baseline = frames[BASELINE_CSV]  # a run that ended early: its results cover the steps it sealed
        frames[BASELINE_CSV] = baseline[baseline["step"].isin(steps)].reset_index(drop=True)
        base_steps = steps
    if set(base_ids) != set(ids) or base_steps != steps:
        raise InputError(
            f"{run_dir / OPTIMIZED_CSV}: households or steps differ from {run_dir / BASELINE_CSV}; "
            "were both written by the same run?"
        )
    return RunFrames(run_dir, frames[BASELINE_CSV], frames[OPTIMIZED_CSV], ids, steps, read_clock(run_dir))


def trades_by_step(optimized: pd.DataFrame, path: Path) -> dict[int, list[P2PTrade]]:
    """Every P2P trade of the run, by step, read from the buyers' ``p2p_trades`` cells."""
    out: dict[int, list[P2PTrade]] = {}
    cells = optimized[["step", "household_id", "p2p_trades"]].to_numpy()
    for row, (step, buyer, text) in enumerate(cells):
        if not text:
            continue
        try:
            out.setdefault(int(step), []).extend(parse_trades(str(text), str(buyer)))
        except ValueError as exc:
            raise InputError(f"{path}: column 'p2p_trades', {where(path, row)}: {exc}") from exc
    return out


def read_summary(run: RunFrames) -> dict[str, Any]:
    """``summary.json`` of the run, or the KPIs computed again from the CSVs when it is missing."""
    path = run.run_dir / SUMMARY_JSON
    if not path.exists():
        return summarize(run.baseline, run.optimized)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict) or "baseline" not in data or "optimized" not in data:
        raise InputError(f"{path}: not a run summary (no 'baseline' and 'optimized' KPIs)")
    return data
