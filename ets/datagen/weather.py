"""The test reference year (TRY) that richardsonpy ships: hourly weather of an average year.

TRY 2010, region 5 (Essen, 51.4 N, 6.97 E, 152 m), Deutscher Wetterdienst. Hours are given in CET
(UTC+1) as the hour ending at ``HH``; the file repeats the year's last hour before the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from chain.errors import InputError
from optimizer.flows import Array

REFERENCE_YEAR = 2010
"""Calendar year the TRY's hours are laid on (not a leap year; 1 January is a Friday)."""


@dataclass(frozen=True, slots=True)
class Weather:
    """Hourly series over one year; ``start`` holds the beginning of each hour (UTC)."""

    start: pd.DatetimeIndex
    beam_horizontal: Array
    """W/m2, direct irradiance on the horizontal plane"""
    diffuse_horizontal: Array
    """W/m2"""
    temperature: Array
    """degC at 2 m"""
    wind_speed: Array
    """m/s at 10 m"""
    latitude: float
    longitude: float
    altitude: float
    source: str

    @property
    def global_horizontal(self) -> Array:
        result: Array = self.beam_horizontal + self.diffuse_horizontal
        return result


def default_try_path() -> Path:
    return Path(str(resources.files("richardsonpy") / "inputs" / "weather" / "TRY2010_05_Jahr.dat"))


def load_try(path: Path | None = None) -> Weather:
    path = path or default_try_path()
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip() == "***") + 1
        rows = np.array([[float(x) for x in line.split()] for line in lines[start:] if line.strip()])
    except (OSError, StopIteration, ValueError) as exc:
        raise InputError(f"{path}: not a test reference year file: {exc}") from exc
    rows = rows[1:] if rows.shape[0] == 8761 else rows
    if rows.shape[0] != 8760:
        raise InputError(f"{path}: expected 8760 hourly rows, found {rows.shape[0]}")
    hours = pd.date_range(f"{REFERENCE_YEAR}-01-01 00:00", periods=8760, freq="h", tz="Etc/GMT-1")
    return Weather(
        start=hours.tz_convert("UTC"),
        beam_horizontal=np.maximum(rows[:, 13], 0.0),
        diffuse_horizontal=np.maximum(rows[:, 14], 0.0),
        temperature=rows[:, 8],
        wind_speed=rows[:, 7],
        latitude=51.4,
        longitude=6.967,
        altitude=152.0,
        source=f"{path.name} (DWD test reference year 2010, region 5, Essen)",
    )
