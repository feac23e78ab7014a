"""Reading user tables (CSV or Parquet) with errors that name the file, the column and the row."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from chain.errors import InputError


def read_columns(path: Path, columns: Sequence[str], dtypes: dict[str, type] | None = None) -> pd.DataFrame:
    """The table at ``path`` (format by suffix), which must have ``columns`` (it may have more)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(f"{path}: unknown format {suffix!r}; use .csv or .parquet")
    try:
        df = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, dtype=dtypes)
    except Exception as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, df.columns))})")
    return df


def where(path: Path, row: int) -> str:
    """``row 3 (line 5)`` for a CSV (its header is line 1), ``row 3`` for Parquet."""
    return f"row {row} (line {row + 2})" if Path(path).suffix.lower() == ".csv" else f"row {row}"


def checked_numbers(
    df: pd.DataFrame,
    column: str,
    path: Path,
    *,
    lo: float = 0.0,
    hi: float | None = None,
    whole: bool = False,
    problem: str | None = None,
    blank_ok: bool = False,
) -> pd.Series:
    """``column`` as numbers within [lo, hi] (whole numbers if ``whole``; empty cells NaN if ``blank_ok``);
    raises naming the first bad row, with ``problem`` saying what is wrong with its value (by default, the
    range)."""
    values = pd.to_numeric(df[column], errors="coerce")
    blank = df[column].isna() if blank_ok else pd.Series(False, index=df.index)
    bad = (values.isna() & ~blank) | ~np.isfinite(values.fillna(0.0)) | (values < lo)
    if hi is not None:
        bad |= values > hi
    if whole:
        bad |= values.notna() & (values != np.floor(values))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        value = df[column].iloc[i]
        shown = repr(value) if isinstance(value, str) else str(value)
        if problem is None:
            problem = f"is not in [{lo:g}, {hi:g}]" if hi is not None else f"is not a number of at least {lo:g}"
        raise InputError(f"{path}: column {column!r}, {where(path, i)}: value {shown} {problem}")
    return values


def first_duplicate(df: pd.DataFrame, keys: list[str]) -> int | None:
    """Row of the first repeat of ``keys``, if any."""
    dup = df.duplicated(keys)
    return int(np.flatnonzero(dup.to_numpy())[0]) if dup.any() else None
