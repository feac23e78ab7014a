"""``ets verify``'s checks of result tables: every balance of a CSV from the CSV alone, and a CSV compared
with what the ledger or a recomputation says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from chain.energy import TOLERANCE_KWH
from chain.errors import EtsError, InputError
from chain.genesis import Genesis
from ets.results.tables import read_csv

MONEY_TOLERANCE = 1e-7
"""$ slack in money checks (floating point)."""


class VerifyError(EtsError):
    """A run failed verification; the message names the file and the first bad height or row."""


def read_checked_csv(path: Path) -> pd.DataFrame:
    try:
        return read_csv(path)
    except InputError as exc:
        raise VerifyError(str(exc)) from None


def check_csv_file(path: Path, genesis: Genesis) -> int:
    if not path.exists():
        raise VerifyError(f"{path}: missing")
    return check_csv(path, genesis)


class _Rows:
    """Raises ``VerifyError`` naming the first row a check fails on."""

    def __init__(self, df: pd.DataFrame, path: Path) -> None:
        self.df, self.path = df, path

    def require(self, bad: np.ndarray, what: str) -> None:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            step, hid = self.df["step"].iloc[i], self.df["household_id"].iloc[i]
            raise VerifyError(f"{self.path}: row {i} (line {i + 2}, step {step}, household {hid}): {what}")


ENERGY_COLUMNS = (
    "production",
    "consumption",
    "grid_buy",
    "grid_sell",
    "p2p_buy_amount",
    "p2p_sell_amount",
    "charge_kwh",
    "discharge_kwh",
    "curtailed_kwh",
    "unserved_kwh",
    "fees",
    "community_charge_kwh",
    "community_discharge_kwh",
)


def check_csv(path: Path, genesis: Genesis) -> int:
    """Every balance of a result CSV, from the CSV alone; raises ``VerifyError`` naming the first bad row."""
    df = read_checked_csv(path)
    if df.empty:
        raise VerifyError(f"{path}: no rows")
    rows = _Rows(df, path)
    tol = TOLERANCE_KWH
    c = {name: df[name].to_numpy(dtype=np.float64) for name in df.columns if is_numeric_dtype(df[name])}
    sources = c["production"] + c["grid_buy"] + c["p2p_buy_amount"] + c["discharge_kwh"] + c["unserved_kwh"]
    sinks = c["consumption"] + c["grid_sell"] + c["p2p_sell_amount"] + c["charge_kwh"] + c["curtailed_kwh"]
    rows.require(np.abs(sources - sinks) > tol, "energy balance does not hold")
    rows.require(c["curtailed_kwh"] > c["production"] + tol, "curtailed exceeds production")
    rows.require(c["unserved_kwh"] > c["consumption"] + tol, "unserved exceeds consumption")
    own = (c["charge_kwh"] - c["community_charge_kwh"], c["discharge_kwh"] - c["community_discharge_kwh"])
    shared = (c["community_charge_kwh"], c["community_discharge_kwh"])
    for prefix, label, (charge, discharge) in (("", "stored_kwh", own), ("community_", "community_stored_kwh", shared)):
        stored, start = c[f"{prefix}stored_kwh"], c[f"{prefix}stored_kwh_start"]
        expected = start + c[f"{prefix}charge_efficiency"] * charge - discharge / c[f"{prefix}discharge_efficiency"]
        rows.require(np.abs(expected - stored) > tol, f"{label} does not follow from the battery equation")
        capacity = c["battery_capacity_kwh" if not prefix else "community_capacity_kwh"]
        rows.require((stored < -tol) | (stored > capacity + tol), f"{label} outside [0, capacity]")
        limit = c[f"{prefix}max_power_kw"] * c["dt_hours"] + tol
        rows.require(
            (charge > limit) | (discharge > limit) | (charge < -tol) | (discharge < -tol),
            f"{label}: charge/discharge outside [0, power x step]",
        )
    rows.require(np.any(np.stack([c[n] for n in ENERGY_COLUMNS]) < -tol, axis=0), "a negative energy or fee")
    cost = (
        c["grid_buy"] * c["grid_buy_price"]
        - c["grid_sell"] * c["grid_sell_price"]
        + (c["p2p_buy_amount"] - c["p2p_sell_amount"]) * c["p2p_price"]
        + c["fees"]
        + c["transfer"]
    )
    rows.require(np.abs(cost - c["cost"]) > MONEY_TOLERANCE, "cost does not follow from energies and prices")
    by_household = df.groupby("household_id", sort=False)
    for column, initial in (
        ("stored_kwh", {m.household: m.battery.initial_soc_kwh for m in genesis.members}),
        ("community_stored_kwh", {m.household: m.shared_battery.initial_soc_kwh for m in genesis.members}),
    ):
        start = by_household[column].shift(1).fillna(df["household_id"].map(initial)).to_numpy(dtype=np.float64)
        rows.require(np.abs(start - c[f"{column}_start"]) > tol, f"{column}_start is not the previous {column}")
    start_wallet = by_household["wallet"].shift(1).fillna(genesis.initial_wallet).to_numpy(dtype=np.float64)
    wallet_bad = np.abs(start_wallet - c["cost"] - c["wallet"]) > MONEY_TOLERANCE
    rows.require(wallet_bad, "wallet is not the previous wallet minus the cost")
    _check_community(df, path)
    return len(df)


def _check_community(df: pd.DataFrame, path: Path) -> None:
    g = df.groupby("step", sort=True)
    sums = g[["grid_buy", "grid_sell", "p2p_buy_amount", "p2p_sell_amount", "unserved_kwh", "curtailed_kwh"]].sum()
    first = g[["grid_import_capacity_kw", "grid_export_capacity_kw", "dt_hours", "p2p_price"]].first()
    n = g.size().to_numpy()
    tol = TOLERANCE_KWH * n
    import_room = (first["grid_import_capacity_kw"] * first["dt_hours"] - sums["grid_buy"]).to_numpy()
    export_room = (first["grid_export_capacity_kw"] * first["dt_hours"] - sums["grid_sell"]).to_numpy()
    checks = (
        ((sums["unserved_kwh"].to_numpy() > tol) & (import_room > tol), "demand unserved while import room is left"),
        (
            (sums["curtailed_kwh"].to_numpy() > tol) & (export_room > tol),
            "production curtailed while export room is left",
        ),
        ((sums["p2p_buy_amount"] - sums["p2p_sell_amount"]).abs().to_numpy() > tol, "P2P bought != sold"),
        (
            (sums["grid_buy"] - first["grid_import_capacity_kw"] * first["dt_hours"]).to_numpy() > tol,
            "import above capacity",
        ),
        (
            (sums["grid_sell"] - first["grid_export_capacity_kw"] * first["dt_hours"]).to_numpy() > tol,
            "export above capacity",
        ),
    )
    for mask, what in checks:
        if mask.any():
            step = int(sums.index[np.flatnonzero(mask)[0]])
            raise VerifyError(f"{path}: step {step}: {what}")
    paid = (df["p2p_buy_amount"] * df["p2p_price"]).groupby(df["step"]).sum()
    received = (df["p2p_sell_amount"] * df["p2p_price"]).groupby(df["step"]).sum()
    bad = np.abs(paid - received).to_numpy() > MONEY_TOLERANCE
    if bad.any():
        raise VerifyError(
            f"{path}: step {int(paid.index[np.flatnonzero(bad)[0]])}: buyers pay peers != sellers receive"
        )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def compare_frames(actual: pd.DataFrame, expected: pd.DataFrame, path: Path, source: str = "the ledger says") -> None:
    """The CSV must say what ``source`` (the ledger, or a recomputation) says (to 1e-9)."""
    if len(actual) != len(expected):
        raise VerifyError(f"{path}: has {len(actual)} rows, {source} {len(expected)}")
    for col in expected.columns:
        if col not in actual.columns:
            raise VerifyError(f"{path}: no column {col!r}")
        a, e = actual[col], expected[col]
        if not (is_numeric_dtype(e) and is_numeric_dtype(a)):
            bad = a.astype(str).to_numpy() != e.astype(str).to_numpy()
        else:
            bad = ~np.isclose(a.to_numpy(dtype=np.float64), e.to_numpy(dtype=np.float64), rtol=0, atol=1e-9)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise VerifyError(
                f"{path}: row {i} (line {i + 2}): column {col!r} is {_plain(a.iloc[i])!r}, {source} "
                f"{_plain(e.iloc[i])!r}"
            )
