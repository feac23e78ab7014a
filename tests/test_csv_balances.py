"""The balance identities on every row of both CSVs of a real run, computed here from the CSV alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ets.results.tables import ORIGINAL_COLUMNS, read_csv

TOL = 1e-7


@pytest.mark.parametrize("name", ["baseline_results.csv", "optimized_results.csv"])
def test_every_row_balances(cluster_run: Path, name: str) -> None:
    df = read_csv(cluster_run / name)
    params = json.loads((cluster_run / "params.json").read_text())
    assert len(df) == 12 * 5
    assert list(df.columns[: len(ORIGINAL_COLUMNS)]) == list(ORIGINAL_COLUMNS)
    sources = df["production"] + df["grid_buy"] + df["p2p_buy_amount"] + df["discharge_kwh"] + df["unserved_kwh"]
    sinks = df["consumption"] + df["grid_sell"] + df["p2p_sell_amount"] + df["charge_kwh"] + df["curtailed_kwh"]
    assert (sources - sinks).abs().max() <= TOL
    b, cb = params["battery"], params["community_battery"]
    own_charge = df["charge_kwh"] - df["community_charge_kwh"]
    own_discharge = df["discharge_kwh"] - df["community_discharge_kwh"]
    soc = df["stored_kwh_start"] + b["charge_efficiency"] * own_charge - own_discharge / b["discharge_efficiency"]
    assert (soc - df["stored_kwh"]).abs().max() <= TOL
    assert (df["stored_kwh"] >= -TOL).all() and (df["stored_kwh"] <= df["battery_capacity_kwh"] + TOL).all()
    shared = (
        df["community_stored_kwh_start"]
        + cb["charge_efficiency"] * df["community_charge_kwh"]
        - df["community_discharge_kwh"] / cb["discharge_efficiency"]
    )
    assert (shared - df["community_stored_kwh"]).abs().max() <= TOL
    assert (df["community_stored_kwh"] <= df["community_capacity_kwh"] + TOL).all()
    dt = params["simulation"]["time_step_hours"]
    limit = df["max_power_kw"] * dt + TOL
    assert (own_charge <= limit).all() and (own_discharge <= limit).all()
    per_step = df.groupby("step")
    assert (per_step["p2p_buy_amount"].sum() - per_step["p2p_sell_amount"].sum()).abs().max() <= TOL
    assert (per_step["grid_buy"].sum() <= per_step["grid_import_capacity_kw"].first() * dt + TOL).all()
    assert (per_step["grid_sell"].sum() <= per_step["grid_export_capacity_kw"].first() * dt + TOL).all()
    paid = (df["p2p_buy_amount"] * df["p2p_price"]).groupby(df["step"]).sum()
    received = (df["p2p_sell_amount"] * df["p2p_price"]).groupby(df["step"]).sum()
    assert np.allclose(paid, received, atol=1e-9)
    traded = df["p2p_buy_amount"] > 0
    assert (df.loc[traded, "p2p_price"] >= df.loc[traded, "grid_sell_price"] - 1e-12).all()
    assert (df.loc[traded, "p2p_price"] <= df.loc[traded, "grid_buy_price"] + 1e-12).all()
    cost = (
        df["grid_buy"] * df["grid_buy_price"]
        - df["grid_sell"] * df["grid_sell_price"]
        + (df["p2p_buy_amount"] - df["p2p_sell_amount"]) * df["p2p_price"]
        + df["fees"]
        + df["transfer"]
    )
    wallet = params["household"]["initial_wallet"] - cost.groupby(df["household_id"]).cumsum()
    assert np.allclose(wallet, df["wallet"], atol=1e-9)


def test_trades_column_adds_up(cluster_run: Path) -> None:
    df = read_csv(cluster_run / "optimized_results.csv")
    for _, row in df.iterrows():
        parts = [p for p in row["p2p_trades"].split("-") if p]
        bought = sum(float(p.split(":")[1]) for p in parts)
        assert bought == pytest.approx(row["p2p_buy_amount"], abs=1e-9)
