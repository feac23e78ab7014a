"""Per-household metadata that travels beside a data file: occupants, PV and batteries.

``<data file stem>.meta.csv`` with columns ``id, occupants, pv_kwp, pv_tilt_deg, pv_azimuth_deg,
battery_kwh, battery_kw, community_battery_share``. Where it exists, each household gets its own battery
(a capacity of 0 means none); without it every household gets the battery of the parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from chain.errors import InputError
from runtime.tables import checked_numbers, first_duplicate, read_columns, where


@dataclass(frozen=True, slots=True)
class HouseholdMeta:
    household: str
    occupants: int
    pv_kwp: float
    """Rated PV power (kW peak); 0 = no PV."""
    pv_tilt_deg: float
    pv_azimuth_deg: float
    """180 = facing south."""
    battery_kwh: float
    """Usable battery capacity; 0 = no battery."""
    battery_kw: float
    """Battery charge/discharge power limit."""
    community_battery_share: float
    """Share of the community battery this household holds (0..1)."""


COLUMNS = ("id", *[f.name for f in fields(HouseholdMeta)][1:])
_NUMBERS = COLUMNS[1:]
_RANGES = {
    "occupants": (1, 5),
    "pv_kwp": (0, 1000),
    "pv_tilt_deg": (0, 90),
    "pv_azimuth_deg": (0, 360),
    "battery_kwh": (0, 10_000),
    "battery_kw": (0, 10_000),
    "community_battery_share": (0, 1),
}


def metadata_path(data_file: Path) -> Path:
    """Where the metadata of ``data_file`` lives: ``<stem>.meta.csv`` beside it."""
    return data_file.with_name(f"{data_file.stem}.meta.csv")


def resolve_metadata(setting: str, data_file: Path) -> Path | None:
    """The metadata file a run uses: ``auto`` looks beside the data file, ``""`` means none."""
    if setting == "":
        return None
    if setting == "auto":
        path = metadata_path(data_file)
        return path if path.is_file() else None
    path = Path(setting)
    if not path.is_file():
        raise InputError(f"{setting}: no such metadata file")
    return path


def write_metadata(households: Iterable[HouseholdMeta], path: Path) -> None:
    rows = [(h.household, *(getattr(h, f) for f in _NUMBERS)) for h in households]
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(path, index=False)


def read_metadata(path: Path) -> dict[str, HouseholdMeta]:
    """Metadata by household id, checked; errors name the file, column and row."""
    df = read_columns(path, COLUMNS, {"id": str})
    for col in _NUMBERS:
        lo, hi = _RANGES[col]
        df[col] = checked_numbers(df, col, path, lo=lo, hi=hi, whole=col == "occupants")
    i = first_duplicate(df, ["id"])
    if i is not None:
        raise InputError(f"{path}: {where(path, i)}: household {df['id'].iloc[i]!r} appears twice")
    total = float(df["community_battery_share"].sum())
    if total > 1 + 1e-9:
        raise InputError(f"{path}: column 'community_battery_share' adds up to {total:.4f}, more than 1")
    records = df.to_dict(orient="records")
    return {
        str(r["id"]): HouseholdMeta(str(r["id"]), int(r["occupants"]), *(float(r[c]) for c in _NUMBERS[1:]))
        for r in records
    }
