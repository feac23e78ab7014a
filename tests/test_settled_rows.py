"""Every settled row keeps the physics, whatever the forecast was; ``ets verify`` recomputes and enforces it.

Each forecaster runs a week of the shipped data (4 households, a short horizon to keep it quick), and
the optimized CSV is checked here on its own terms, row by row and step by step. Then each kind of
impossible settled row is injected into a real ledger, the block signed again by the coordinator, and
``ets verify`` must name its height.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chain.blocks import Block, Correction
from chain.crypto import SigningKey, Verifier
from chain.genesis import Genesis
from chain.ledger import read_records
from chain.merkle import merkle_root
from chain.messages import sign
from chain.reading import read_block
from ets.check.verify import VerifyError, verify_ledger_file
from ets.results.tables import read_csv
from ets.run.setup import RunLayout
from optimizer.forecast import FORECASTERS
from tests.conftest import cli, ledger_beside, only_run_dir, write_params

WEEK = 7 * 96
NOON = 11_424 + 44
TOL = 1e-6


def week_run(root: Path, forecaster: str, steps: int = WEEK, start: int = 11_424) -> Path:
    params = write_params(
        root / "p.json",
        {
            "simulation": {"steps": steps, "start_step": start},
            "household": {"max_households": 4},
            "forecaster": {"kind": forecaster, "horizon_steps": 16},
        },
    )
    result = cli("simulate", "--params", str(params), "--results", str(root / "r"), "--quiet")
    assert result.exit_code == 0, result.output
    return only_run_dir(root / "r")


def impossible_rows(df: pd.DataFrame) -> dict[str, int]:
    """How many rows (or steps) break each rule of a settled row."""
    dt = df["dt_hours"]
    own_c = df["charge_kwh"] - df["community_charge_kwh"]
    own_d = df["discharge_kwh"] - df["community_discharge_kwh"]
    sources = df["production"] + df["grid_buy"] + df["p2p_buy_amount"] + df["discharge_kwh"] + df["unserved_kwh"]
    sinks = df["consumption"] + df["grid_sell"] + df["p2p_sell_amount"] + df["charge_kwh"] + df["curtailed_kwh"]
    soc = df["stored_kwh_start"] + df["charge_efficiency"] * own_c - own_d / df["discharge_efficiency"]
    steps = df.groupby("step")
    imp, exp = steps["grid_buy"].sum(), steps["grid_sell"].sum()
    icap = steps["grid_import_capacity_kw"].first() * steps["dt_hours"].first()
    ecap = steps["grid_export_capacity_kw"].first() * steps["dt_hours"].first()
    return {
        "balance": int(((sources - sinks).abs() > TOL).sum()),
        "battery equation": int(((soc - df["stored_kwh"]).abs() > TOL).sum()),
        "state of charge outside [0, capacity]": int(
            ((df["stored_kwh"] < -TOL) | (df["stored_kwh"] > df["battery_capacity_kwh"] + TOL)).sum()
        ),
        "power limit": int(((own_c > df["max_power_kw"] * dt + TOL) | (own_d > df["max_power_kw"] * dt + TOL)).sum()),
        "unserved > consumption": int((df["unserved_kwh"] > df["consumption"] + TOL).sum()),
        "curtailed > production": int((df["curtailed_kwh"] > df["production"] + TOL).sum()),
        "unserved with import room": int(((steps["unserved_kwh"].sum() > TOL) & (imp < icap - TOL)).sum()),
        "curtailed with export room": int(((steps["curtailed_kwh"].sum() > TOL) & (exp < ecap - TOL)).sum()),
        "P2P bought != sold": int(((steps["p2p_buy_amount"].sum() - steps["p2p_sell_amount"].sum()).abs() > TOL).sum()),
        "grid bought and sold by one household": int(((df["grid_buy"] > TOL) & (df["grid_sell"] > TOL)).sum()),
        "community imports and exports at once": int(((imp > TOL) & (exp > TOL)).sum()),
    }


def unfair_prices(df: pd.DataFrame, fee: float) -> int:
    """Rows where a seller nets less than the grid pays, or a buyer pays more than the grid charges."""
    sells = (df["p2p_sell_amount"] > TOL) & (df["p2p_price"] - fee / 2 < df["grid_sell_price"] - 1e-9)
    buys = (df["p2p_buy_amount"] > TOL) & (df["p2p_price"] + fee / 2 > df["grid_buy_price"] + 1e-9)
    return int((sells | buys).sum())


@pytest.mark.parametrize("forecaster", FORECASTERS)
def test_every_forecaster_settles_a_week_within_physics(forecaster: str, tmp_path: Path) -> None:
    run = week_run(tmp_path, forecaster)
    df = read_csv(run / "optimized_results.csv")
    assert len(df) == 4 * WEEK
    assert impossible_rows(df) == dict.fromkeys(impossible_rows(df), 0)
    assert unfair_prices(df, 0.01) == 0
    assert cli("verify", str(run)).exit_code == 0


@pytest.fixture(scope="module")
def noon_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Persistence forecasts over midday: corrections with production, P2P and grid flows to tamper with."""
    return week_run(tmp_path_factory.mktemp("noon"), "persistence", steps=8, start=NOON)


def _tamper(c: Correction, kind: str) -> Correction:
    """``c`` made impossible in one way, with the energy balance kept where the kind is not the balance."""
    r = dataclasses.replace
    if kind == "curtailed exceeds production":
        extra = c.production + 1.0 - c.curtailed
        return r(c, curtailed=c.production + 1.0, grid_buy=c.grid_buy + extra)
    if kind == "unserved exceeds consumption":
        extra = c.consumption + 1.0 - c.unserved
        return r(c, unserved=c.consumption + 1.0, grid_sell=c.grid_sell + extra)
    if kind == "unserved while":  # balanced by as much curtailment (the export limit binds at noon)
        return r(c, unserved=c.unserved + 0.01, curtailed=c.curtailed + 0.01)
    if kind == "curtailed while":  # a sale to the grid turned into curtailment: export room is left
        return r(c, curtailed=c.curtailed + 0.01, grid_sell=c.grid_sell - 0.01)
    if kind == "battery equation":
        return r(c, soc_after=c.soc_after + 0.5)
    if kind == "P2P bought":  # the household's balance kept, the step's P2P not
        return r(c, grid_buy=c.grid_buy + 0.2, p2p_sell=c.p2p_sell + 0.2)
    if kind == "energy balance":
        return r(c, grid_buy=c.grid_buy + 0.3)
    if kind == "do not follow from the meter readings":  # every rule of physics kept, a fee made up
        return r(c, fees=c.fees + 0.01)
    raise AssertionError(kind)


TAMPERINGS = (
    "P2P bought",
    "curtailed exceeds production",
    "unserved exceeds consumption",
    "unserved while",
    "curtailed while",
    "battery equation",
    "energy balance",
    "do not follow from the meter readings",
)


@pytest.mark.parametrize("kind", TAMPERINGS)
def test_verify_names_the_height_of_each_impossible_settled_row(kind: str, noon_run: Path, tmp_path: Path) -> None:
    layout = RunLayout(noon_run)
    genesis = Genesis.load(layout.genesis)
    records = read_records(layout.coordinator_ledger)
    height = 4
    block: Block = read_block(records[height], genesis, Verifier())[1]
    corrections = block.decoded_corrections()
    pick = max(
        range(len(corrections)),
        key=lambda i: (corrections[i].consumption > 0.02, corrections[i].grid_sell > 0.02, corrections[i].production),
    )
    changed = [c.encode() for c in corrections]
    changed[pick] = _tamper(corrections[pick], kind).encode()
    tampered = dataclasses.replace(
        block, corrections=tuple(changed), settlements_root=merkle_root([*block.settlements, *changed])
    )
    key = SigningKey.load(layout.key("coordinator"))
    path = ledger_beside(noon_run, tmp_path, [*records[:height], sign(tampered, key).raw])
    with pytest.raises(VerifyError, match=f"height {height}: .*{kind}"):
        verify_ledger_file(path, workers=1)


def test_the_untampered_ledger_verifies(noon_run: Path) -> None:
    """The tampering above is what fails, not the ledger."""
    assert cli("verify", str(noon_run)).exit_code == 0
    assert np.isfinite(read_csv(noon_run / "optimized_results.csv")["wallet"]).all()


@pytest.mark.parametrize("seed", [7, 42, 1, 13])
def test_random_tariffs_complete_and_verify(seed: int, tmp_path: Path) -> None:
    """random_uniform tariffs once aborted the run (an export limit overshot by rounding, booked as
    curtailment on households without PV); every seed now settles within physics."""
    params = write_params(
        tmp_path / "p.json",
        {"simulation": {"steps": 48, "seed": seed, "start_step": NOON - 24}, "grid_price": {"mode": "random_uniform"}},
    )
    result = cli("simulate", "--params", str(params), "--results", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "r")
    df = read_csv(run / "optimized_results.csv")
    assert impossible_rows(df) == dict.fromkeys(impossible_rows(df), 0)
    assert cli("verify", str(run)).exit_code == 0


@pytest.mark.parametrize(
    "limits", [{"export_kw_per_household": 0.0}, {"import_kw_per_household": 0.0, "export_kw_per_household": 0.0}]
)
def test_zero_transformer_limits_are_a_valid_run(limits: dict[str, float], tmp_path: Path) -> None:
    """No export (or no grid at all): households keep what they can in storage, trade the rest, and curtail
    or go unserved only where nothing else can take it."""
    params = write_params(
        tmp_path / "p.json", {"simulation": {"steps": 24, "start_step": NOON - 8}, "grid_capacity": limits}
    )
    result = cli("simulate", "--params", str(params), "--results", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "r")
    df = read_csv(run / "optimized_results.csv")
    assert df["grid_sell"].max() == 0.0
    assert impossible_rows(df) == dict.fromkeys(impossible_rows(df), 0)
    assert cli("verify", str(run)).exit_code == 0
